"""Entry point: ``python -m trainers run SPEC.json`` (see trainers/cli.py)."""

from trainers.cli import main

raise SystemExit(main())
