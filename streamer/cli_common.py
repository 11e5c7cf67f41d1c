"""What every ``streamer`` command shares: exit codes, loading the config."""

from __future__ import annotations

import argparse
import logging
import sys

from streamer.config import ConfigError, Settings, load_settings

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2

log = logging.getLogger("streamer")


def _load(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, args.overrides)


def _config_failed(exc: ConfigError) -> int:
    print(exc.render(), file=sys.stderr)
    return EXIT_CONFIG
