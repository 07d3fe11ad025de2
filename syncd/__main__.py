from syncd.cli.main import main

raise SystemExit(main())
