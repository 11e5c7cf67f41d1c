"""Speech text in French, German and Spanish: numbers, money, dates and times read in the
channel's language through num2words, never English number words."""

from __future__ import annotations

import random
import re

import pytest

from streamer.lang.numbers import LANGUAGES, SpokenNumbers
from streamer.speech_text import SpeechText

ENGLISH_NUMBER_WORDS = re.compile(
    r"\b(?:one|two|three|four|five|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fifteen|twenty|thirty|forty|fifty|hundred|thousand|million|point|cents? and|"
    r"percent|first|second|third|o.clock|PM|AM)\b"
)


def spoken(language: str, text: str) -> str:
    return " ".join(SpokenNumbers(language)(text).split())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Il est 17 h 30.", "Il est dix-sept heures trente ."),
        ("À 17h, 9:05 ou 1 h.", "À dix-sept heures , neuf heures cinq ou une heure ."),
        (
            "12,50 € ou 1 €, ou $3 ou 2 £",
            "douze euros et cinquante centimes ou un euro , ou trois dollars ou deux livres",
        ),
        ("0,99 €", "quatre-vingt-dix-neuf centimes"),
        (
            "Le 15/03/2024 et le 1er mai.",
            "Le quinze mars deux mille vingt-quatre et le premier mai.",
        ),
        ("2024-12-07", "sept décembre deux mille vingt-quatre"),
        (
            "10 000 fans, 3,14 et 2,5 km",
            "dix mille fans, trois virgule quatorze et deux virgule cinq kilomètres",
        ),
        (
            "1 minute, 1 chat, 20 °C, 50 %",
            "une minute, un chat, vingt degrés Celsius , cinquante pour cent",
        ),
        (
            "5-10 ans, -5, la 2e, la 1re, n° 5",
            "cinq à dix ans, moins cinq , la deuxième , la première , numéro cinq",
        ),
        ("En 1999.", "En mille neuf cent quatre-vingt-dix-neuf ."),
        ("~3 fois 2x", "environ trois fois deux fois"),
        ("007", "zéro zéro sept"),
    ],
)
def test_french(text: str, expected: str) -> None:
    assert spoken("fr", text) == " ".join(expected.split())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Es ist 17:30 Uhr.", "Es ist siebzehn Uhr dreißig ."),
        ("Um 17 Uhr oder 9.15 Uhr.", "Um siebzehn Uhr oder neun Uhr fünfzehn ."),
        ("Am 3. Oktober", "Am dritten Oktober"),
        ("der 15.03.2024", "der fünfzehnte März zweitausendvierundzwanzig"),
        ("Berlin, 1.5.2025", "Berlin, erster Mai zweitausendfünfundzwanzig"),
        (
            "1.234.567 Leute",
            "eine Million zweihundertvierunddreißigtausendfünfhundertsiebenundsechzig Leute",
        ),
        ("3,14 und 1 Frage", "drei Komma eins vier und eine Frage"),
        ("12,50 € und 1 $", "zwölf Euro und fünfzig Cent und ein Dollar"),
        ("Im Jahr 1999", "Im Jahr neunzehnhundertneunundneunzig"),
        ("50 % und 5 km", "fünfzig Prozent und fünf Kilometer"),
    ],
)
def test_german(text: str, expected: str) -> None:
    assert spoken("de", text) == " ".join(expected.split())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Son las 17:30.", "Son las diecisiete y treinta ."),
        ("a la 1:15", "a la una y quince"),
        ("El 15/03/2024", "El quince de marzo de dos mil veinticuatro"),
        ("el 1.º y la 2ª, el 3er piso", "el primero y la segunda , el tercer piso"),
        ("1.234 personas", "mil doscientos treinta y cuatro personas"),
        ("3,14 y 1 hora", "tres coma catorce y una hora"),
        ("12,50 € y 1 €", "doce euros con cincuenta céntimos y un euro"),
        ("50 % de 20 °C", "cincuenta por ciento de veinte grados Celsius"),
    ],
)
def test_spanish(text: str, expected: str) -> None:
    assert spoken("es", text) == " ".join(expected.split())


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_digit_and_no_english_number_word_is_left(language: str) -> None:
    rng = random.Random(7)
    pieces = [
        "17:30", "17 h 30", "9.15 Uhr", "12,50 €", "$3", "1.234", "10 000", "3,14", "-5",
        "5-10", "1er", "2e", "3.", "1.º", "50 %", "20 °C", "2024-03-15", "15/03/24",
        "99:99", "1/2", "x86", "PS5", "v1.2.3", "#1", "1234567890123456789", "0", "42nd",
        "1,5 kg", "3x", "2 ×3", "~7", "£0.50", "¥500", "25.12.", "12:05",
    ]  # fmt: skip
    for _ in range(200):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        out = SpokenNumbers(language)(text)
        assert not re.search("[0-9]", out), (text, out)
        assert not ENGLISH_NUMBER_WORDS.search(out), (text, out)


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="known: fr, de, es"):
        SpokenNumbers("it")


# ----------------------------------------------------------------- the whole speech text


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        (
            "fr",
            "Écris à jean.dupont@exemple.fr ou va sur https://www.exemple.fr/page, mdr.",
            "Écris à jean point dupont arobase exemple point fr ou va sur un lien vers "
            "exemple point fr, mort de rire.",
        ),
        ("fr", "Toi & moi = 100 %, p. ex. 5 m², Mme Curie.",
         "Toi et moi égale cent pour cent, par exemple cinq mètres au carré, Madame Curie."),
        ("fr", "Il est 17 h 30 😀 **vraiment** !", "Il est dix-sept heures trente vraiment!"),
        ("fr", "@xX_gamer99_Xx la 1re fois", "gamer quatre-vingt-dix-neuf la première fois"),
        ("de", "z. B. am 3. Oktober, vllt 12,50 € -> los.",
         "zum Beispiel am dritten Oktober, vielleicht zwölf Euro und fünfzig Cent zu los."),
        ("de", "Schau auf twitch.tv nach!", "Schau auf twitch Punkt tv nach!"),
        ("es", "La Sra. García, el 1.º y la 2ª, nº 5, tqm.",
         "La señora García, el primero y la segunda, número cinco, te quiero mucho."),
        ("es", "Son las 17:30 & 50 %.", "Son las diecisiete y treinta y cincuenta por ciento."),
    ],
)  # fmt: skip
def test_speech_text_in_the_language(language: str, text: str, expected: str) -> None:
    assert SpeechText(language=language)(text) == expected


def test_english_is_unchanged_by_the_language_steps() -> None:
    assert SpeechText(language="en")("It is 5:30pm & 50% e.g. idk") == (
        "It is five thirty PM and fifty percent for example I don't know"
    )
