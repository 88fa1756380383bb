from __future__ import annotations

from otlpy.cli import main

main()
