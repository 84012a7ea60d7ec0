"""`python -m plantid_cli.sandbox`: run the sandbox server (see server.main)."""

from plantid_cli.sandbox.server import main

raise SystemExit(main())
