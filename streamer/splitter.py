"""Cut a streamed answer into speakable segments for the voice stage.

The splitter is fed text deltas as the LLM writes them and returns the segments
that each delta completed. The result depends only on the text, never on how it
was chunked: every cut is decided by a pure rule over the text, and a decision
that needs to see characters not yet received waits for them (or for
:meth:`SentenceSplitter.finish`).

Rules, in short:

* A segment is cut at a sentence end once it is at least ``min_chars`` long. The
  first segment of an answer is cut earlier, at the first sentence end or comma
  that leaves it at least ``first_min_chars`` long, so speech starts while the
  LLM is still writing.
* Sentence ends: ``.``, ``?``, ``!`` (and runs such as ``?!`` or ``!!!``), then
  any closing quotes, brackets or emoji, then whitespace or the end of the text.
  A newline is always a sentence end (the text before it is a paragraph).
* Abbreviations are those of the channel's language (``channel.language``; the
  tables are in ``streamer/lang/abbreviations.py``); the examples here are English.
* A period is not a sentence end after a title (Mr., Dr., St....), after
  ``e.g.``, ``i.e.``, ``vs.``, ``cf.``, after a single letter (initials such as
  ``J. R. R. Tolkien``), or inside a number (``3.14``, ``$2.50``). After ``etc.``,
  ``a.m.``, ``p.m.``, ``U.S.``, ``U.K.`` (and a few more) it is a sentence end
  only if the next word starts with a capital letter.
* Ellipsis rule: ``...`` or ``…`` is a sentence end only when whitespace and then
  a capital letter follow (or the text ends there). ``"Well... maybe"`` stays
  one sentence, ``"Well... Maybe"`` is two. A wrong guess only moves a pause.
* ``?`` or ``!`` inside quotes followed by a lower-case word does not end the
  sentence (``"Really?" she asked.``).
* Emoji right after a sentence end stay with that sentence (``"Great! 😄 Next"``
  cuts after the emoji), so no segment is only an emoji.
* A segment never exceeds ``max_chars``: without a usable sentence end it is cut
  at the last sentence end, else the last comma, else the last space before the
  limit (a word longer than the limit is cut hard).
* Segments are stripped of surrounding whitespace and are never empty.
* French spacing: a space before ``?``, ``!`` or a closing ``»`` changes nothing
  (``« Vraiment ? » dit-elle.`` stays one sentence). German ordinals: ``am 3.
  Oktober`` is not cut after ``3.``.
"""

from __future__ import annotations

import unicodedata

from streamer.lang.abbreviations import abbreviations

# Characters that may close a sentence after its final punctuation.
_CLOSERS = frozenset("\"'”’»)]}*_")
# Characters that may open a word (stripped before looking the word up).
_OPENERS = "\"'“‘«([{*_"
_STOPS = frozenset(".?!…")
_FRENCH_SPACES = " \u00a0\u202f"

# Decision of a candidate cut: end here, not an end, or cannot tell yet.
_WAIT = -1


def _is_emoji_part(ch: str) -> bool:
    if ch in "\u200d\ufe0e\ufe0f\u20e3":
        return True
    return unicodedata.category(ch) in ("So", "Sk") and ord(ch) > 0x2000


class SentenceSplitter:
    """Streaming sentence splitter; see the module docstring for the rules."""

    def __init__(
        self,
        min_chars: int = 200,
        first_min_chars: int = 40,
        max_chars: int = 400,
        *,
        language: str = "en",
    ):
        if min_chars < 1 or first_min_chars < 1:
            raise ValueError("min_chars and first_min_chars must be at least 1")
        if max_chars < max(min_chars, first_min_chars):
            raise ValueError(
                f"max_chars ({max_chars}) must be at least min_chars ({min_chars}) "
                f"and first_min_chars ({first_min_chars})"
            )
        self.min_chars = min_chars
        self.first_min_chars = first_min_chars
        self.max_chars = max_chars
        self.language = language
        self._abbreviations = abbreviations(language)
        self._buf = ""
        self._first = True

    def reset(self) -> None:
        """Forget everything: the next text starts a new answer."""
        self._buf = ""
        self._first = True

    @property
    def pending(self) -> str:
        """Text received but not yet returned in a segment."""
        return self._buf

    def feed(self, delta: str) -> list[str]:
        """Add a text delta; return the segments it completed."""
        self._buf += delta
        return self._drain(final=False)

    def finish(self) -> list[str]:
        """End of the answer: return the remaining segments and reset."""
        out = self._drain(final=True)
        rest = self._buf.strip()
        if rest:
            out.append(rest)
        self.reset()
        return out

    def whole_sentences(self) -> tuple[str, str]:
        """The pending text cut after its last sentence end, by the same rules ("Dr."
        ends nothing): (the whole sentences, the unfinished rest). Nothing changes."""
        probe = SentenceSplitter(1, 1, len(self._buf) + 1, language=self.language)
        probe._first = False  # no cut at a comma
        probe._buf = self._buf
        whole = " ".join(probe._drain(final=True))
        return whole, probe._buf.strip()

    # ------------------------------------------------------------------ internals

    def _drain(self, *, final: bool) -> list[str]:
        out: list[str] = []
        while True:
            self._buf = self._buf.lstrip()
            if not self._buf:
                return out
            cut = self._find_cut(self._buf, final=final)
            if cut is None:
                return out
            segment = self._buf[:cut].strip()
            self._buf = self._buf[cut:]
            if segment:
                out.append(segment)
                self._first = False

    def _find_cut(self, buf: str, *, final: bool) -> int | None:
        """Index to cut ``buf`` at (exclusive), or None: keep it for now.

        ``buf`` starts with a non-space character.
        """
        n = len(buf)
        limit = self.max_chars
        threshold = self.first_min_chars if self._first else self.min_chars
        last_end: int | None = None  # last sentence end within the limit
        last_comma: int | None = None
        i = 0
        while i < n and i < limit:
            ch = buf[i]
            if ch == "\n":
                end, nxt = i, i + 1
            elif ch == ",":
                end, nxt = self._comma(buf, i, final)
                if end == _WAIT:
                    return None
                if end > 0 and end <= limit:
                    if self._first and len(buf[:end].rstrip()) >= threshold:
                        return end
                    last_comma = end
                i = nxt
                continue
            elif ch in _STOPS:
                end, nxt = self._stop(buf, i, final)
                if end == _WAIT:
                    return None
            else:
                i += 1
                continue
            if end > 0:
                if end > limit:
                    break
                if len(buf[:end].rstrip()) >= threshold:
                    return end
                last_end = end
            i = nxt
        if n <= limit:
            return None  # the whole buffer fits: wait for more (or finish() takes it)
        # Over the limit without a usable sentence end: cut where it hurts least.
        if last_end is not None:
            return last_end
        if last_comma is not None:
            return last_comma
        space = max(buf.rfind(" ", 1, limit + 1), buf.rfind("\n", 1, limit + 1))
        return space if space > 0 else limit

    @staticmethod
    def _after_closers(buf: str, j: int) -> int:
        n = len(buf)
        while j < n:
            if buf[j] in _CLOSERS or _is_emoji_part(buf[j]):
                j += 1
            elif buf[j] in _FRENCH_SPACES and j + 1 < n and buf[j + 1] == "»":
                j += 2  # French: « Vraiment ? » (a space before the closing guillemet)
            else:
                break
        return j

    def _comma(self, buf: str, i: int, final: bool) -> tuple[int, int]:
        """(end, next index) for a comma at ``i``; end 0 = no cut, _WAIT = need more."""
        j = self._after_closers(buf, i + 1)
        if j == len(buf):
            return (j if final else _WAIT), j
        return (j if buf[j].isspace() else 0), j

    def _stop(self, buf: str, i: int, final: bool) -> tuple[int, int]:
        """(end, next index) for a run of ``.?!…`` starting at ``i``."""
        n = len(buf)
        j = i
        while j < n and buf[j] in _STOPS:
            j += 1
        run = buf[i:j]
        quoted = any(c in "\"'”’»" for c in buf[j : self._after_closers(buf, j)])
        j = self._after_closers(buf, j)
        if j == n and not final:
            return _WAIT, j
        if j < n and not buf[j].isspace():
            return 0, j  # "3.14", "e.g.x", "U.S" or "Hi!Bob": inside a word
        if "?" in run or "!" in run:
            if quoted:  # '"Really?" she asked.' goes on; '"Really?" She left.' ends
                return self._end_unless_lower(buf, j, final), j
            return self._with_trailing_emoji(buf, j, final), j
        if run == ".":
            word = self._word_before(buf, i)
            table = self._abbreviations
            if word in table.never_end or (len(word) == 1 and word.isalpha()):
                return 0, j
            if word in table.end_if_capital:
                return self._end_if_capital(buf, j, final), j
            if table.ordinal_dot and word.isdigit() and len(word) <= 3:
                return self._end_unless_ordinal(buf, j, final), j
            return self._with_trailing_emoji(buf, j, final), j
        # An ellipsis ("..", "...", "…").
        return self._end_if_capital(buf, j, final), j

    def _end_unless_lower(self, buf: str, j: int, final: bool) -> int:
        k = j
        n = len(buf)
        while k < n and buf[k].isspace():
            k += 1
        if k == n:
            return j if final else _WAIT
        return 0 if buf[k].islower() else self._with_trailing_emoji(buf, j, final)

    def _end_unless_ordinal(self, buf: str, j: int, final: bool) -> int:
        """German "am 3. Oktober", "der 2. platz": a month name or a lower-case word
        after the number's period makes it an ordinal; anything else ends here."""
        n = len(buf)
        k = j
        while k < n and buf[k].isspace():
            k += 1
        m = k
        while m < n and buf[m].isalpha():
            m += 1
        if m == n and not final:
            return _WAIT  # the next word is not whole yet
        word = buf[k:m]
        if word and (word[0].islower() or word.lower() in self._abbreviations.months):
            return 0
        return self._with_trailing_emoji(buf, j, final)

    def _end_if_capital(self, buf: str, j: int, final: bool) -> int:
        k = j
        n = len(buf)
        while k < n and buf[k].isspace():
            k += 1
        if k == n:
            return j if final else _WAIT
        return self._with_trailing_emoji(buf, j, final) if buf[k].isupper() else 0

    def _with_trailing_emoji(self, buf: str, j: int, final: bool) -> int:
        """A sentence ends at ``j``; take emoji that follow after spaces along."""
        n = len(buf)
        k = j
        while k < n and buf[k] in " \t":
            k += 1
        if k == n:
            return j if final else _WAIT
        if not _is_emoji_part(buf[k]):
            return j
        m = k
        while m < n and _is_emoji_part(buf[m]):
            m += 1
        if m == n:
            return m if final else _WAIT
        return m if buf[m].isspace() else j

    @staticmethod
    def _word_before(buf: str, i: int) -> str:
        k = i
        while k > 0 and not buf[k - 1].isspace():
            k -= 1
        return buf[k:i].lstrip(_OPENERS).lower()
