"""Words for numbers' company in French, German and Spanish: months, currencies, units.

The number words themselves come from ``num2words``; these tables hold what it does
not: the names that follow a number, their gender (``une heure``, ``eine Minute``) and
their plural. A tuple is (singular, plural, gender), gender ``m`` or ``f`` (German
neuter counts as ``m``: "ein Kilogramm").
"""

from __future__ import annotations

from streamer.speech_numbers import _words

MONTHS = {
    "fr": _words(
        "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
    ),
    "de": _words(
        "Januar Februar März April Mai Juni Juli August September Oktober November Dezember"
    ),
    "es": _words(
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
    ),
}

# "one" before a masculine / feminine noun (num2words says "eins"/"uno" alone).
ONE = {"fr": ("un", "une"), "de": ("ein", "eine"), "es": ("un", "una")}

# Common feminine nouns after a lone 1 ("1 minute": "une minute"); others take "un".
FEMININE = {
    "fr": frozenset(
        _words(
            "minute seconde heure fois semaine personne question année chose journée vidéo "
            "partie soirée nuit ville page photo réponse histoire chanson équipe"
        )
    ),
    "de": frozenset(
        _words(
            "minute sekunde stunde woche person frage sache nacht stadt seite antwort "
            "geschichte mannschaft folge runde"
        )
    ),
    "es": frozenset(
        _words(
            "hora semana persona pregunta vez cosa noche ciudad página foto respuesta "
            "historia canción parte"
        )
    ),
}

# Between the whole and the fraction of a decimal number; after a minus sign.
DECIMAL_POINT = {"fr": "virgule", "de": "Komma", "es": "coma"}
MINUS = {"fr": "moins", "de": "minus", "es": "menos"}
RANGE_TO = {"fr": "à", "de": "bis", "es": "a"}
PERCENT = {"fr": "pour cent", "de": "Prozent", "es": "por ciento"}
NUMBER_SIGN = {"fr": "numéro", "de": "Nummer", "es": "número"}
TIMES = {"fr": "fois", "de": "mal", "es": "por"}
ABOUT = {"fr": "environ", "de": "etwa", "es": "unos"}

# symbol -> (unit name, hundredth name, "and" between them).
Currency = tuple[tuple[str, str, str], tuple[str, str, str] | None]
CURRENCIES: dict[str, dict[str, Currency]] = {
    "fr": {
        "€": (("euro", "euros", "m"), ("centime", "centimes", "m")),
        "$": (("dollar", "dollars", "m"), ("cent", "cents", "m")),
        "£": (("livre", "livres", "f"), ("penny", "pence", "m")),
        "¥": (("yen", "yens", "m"), None),
    },
    "de": {
        "€": (("Euro", "Euro", "m"), ("Cent", "Cent", "m")),
        "$": (("Dollar", "Dollar", "m"), ("Cent", "Cent", "m")),
        "£": (("Pfund", "Pfund", "m"), ("Penny", "Pence", "m")),
        "¥": (("Yen", "Yen", "m"), None),
    },
    "es": {
        "€": (("euro", "euros", "m"), ("céntimo", "céntimos", "m")),
        "$": (("dólar", "dólares", "m"), ("centavo", "centavos", "m")),
        "£": (("libra", "libras", "f"), ("penique", "peniques", "m")),
        "¥": (("yen", "yenes", "m"), None),
    },
}
CURRENCY_CODES = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
MONEY_AND = {"fr": "et", "de": "und", "es": "con"}

# The hour of a time of day, and what a time with no minutes says.
Noun = tuple[str, str, str]
HOUR: dict[str, Noun] = {
    "fr": ("heure", "heures", "f"),
    "de": ("Uhr", "Uhr", "f"),
    "es": ("", "", "f"),
}

# unit -> "singular|plural|gender" in fr, de, es. Case-sensitive, as written after a number.
_UNIT_ROWS = {
    "km": ("kilomètre|kilomètres|m", "Kilometer|Kilometer|m", "kilómetro|kilómetros|m"),
    "m": ("mètre|mètres|m", "Meter|Meter|m", "metro|metros|m"),
    "cm": ("centimètre|centimètres|m", "Zentimeter|Zentimeter|m", "centímetro|centímetros|m"),
    "mm": ("millimètre|millimètres|m", "Millimeter|Millimeter|m", "milímetro|milímetros|m"),
    "kg": ("kilo|kilos|m", "Kilo|Kilo|m", "kilo|kilos|m"),
    "g": ("gramme|grammes|m", "Gramm|Gramm|m", "gramo|gramos|m"),
    "mg": ("milligramme|milligrammes|m", "Milligramm|Milligramm|m", "miligramo|miligramos|m"),
    "l": ("litre|litres|m", "Liter|Liter|m", "litro|litros|m"),
    "L": ("litre|litres|m", "Liter|Liter|m", "litro|litros|m"),
    "ml": ("millilitre|millilitres|m", "Milliliter|Milliliter|m", "mililitro|mililitros|m"),
    "°C": (
        "degré Celsius|degrés Celsius|m",
        "Grad Celsius|Grad Celsius|m",
        "grado Celsius|grados Celsius|m",
    ),
    "°F": (
        "degré Fahrenheit|degrés Fahrenheit|m",
        "Grad Fahrenheit|Grad Fahrenheit|m",
        "grado Fahrenheit|grados Fahrenheit|m",
    ),
    "°": ("degré|degrés|m", "Grad|Grad|m", "grado|grados|m"),
    "km/h": (
        "kilomètre par heure|kilomètres par heure|m",
        "Stundenkilometer|Stundenkilometer|m",
        "kilómetro por hora|kilómetros por hora|m",
    ),
    "Go": ("giga-octet|giga-octets|m", "Gigabyte|Gigabyte|m", "gigabyte|gigabytes|m"),
    "GB": ("giga-octet|giga-octets|m", "Gigabyte|Gigabyte|m", "gigabyte|gigabytes|m"),
    "Mo": ("méga-octet|méga-octets|m", "Megabyte|Megabyte|m", "megabyte|megabytes|m"),
    "MB": ("méga-octet|méga-octets|m", "Megabyte|Megabyte|m", "megabyte|megabytes|m"),
    "To": ("téra-octet|téra-octets|m", "Terabyte|Terabyte|m", "terabyte|terabytes|m"),
    "TB": ("téra-octet|téra-octets|m", "Terabyte|Terabyte|m", "terabyte|terabytes|m"),
    "min": ("minute|minutes|f", "Minute|Minuten|f", "minuto|minutos|m"),
    "s": ("seconde|secondes|f", "Sekunde|Sekunden|f", "segundo|segundos|m"),
    "ms": (
        "milliseconde|millisecondes|f",
        "Millisekunde|Millisekunden|f",
        "milisegundo|milisegundos|m",
    ),
    "fps": (
        "image par seconde|images par seconde|f",
        "Bild pro Sekunde|Bilder pro Sekunde|m",
        "fotograma por segundo|fotogramas por segundo|m",
    ),
    "Hz": ("hertz|hertz|m", "Hertz|Hertz|m", "hercio|hercios|m"),
    "GHz": ("gigahertz|gigahertz|m", "Gigahertz|Gigahertz|m", "gigahercio|gigahercios|m"),
    "px": ("pixel|pixels|m", "Pixel|Pixel|m", "píxel|píxeles|m"),
    "W": ("watt|watts|m", "Watt|Watt|m", "vatio|vatios|m"),
    "kW": ("kilowatt|kilowatts|m", "Kilowatt|Kilowatt|m", "kilovatio|kilovatios|m"),
}


def _units() -> dict[str, dict[str, Noun]]:
    table: dict[str, dict[str, Noun]] = {"fr": {}, "de": {}, "es": {}}
    for unit, rows in _UNIT_ROWS.items():
        for language, row in zip(("fr", "de", "es"), rows, strict=True):
            one, many, gender = row.split("|")
            table[language][unit] = (one, many, gender)
    return table


UNITS = _units()
