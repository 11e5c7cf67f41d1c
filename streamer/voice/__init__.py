"""Tools that make a voice: ``streamer voice dataset`` (recordings -> an LJSpeech-style
dataset) and ``streamer voice train`` (fine-tune a Coqui VITS on it).

Heavy libraries (pydub, Whisper, Coqui TTS) are imported inside the functions that
use them, so ``import streamer.voice`` costs nothing.
"""
