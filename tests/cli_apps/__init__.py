"""Apps the CLI tests load with ``pace-worker run --app cli_apps.jobs:...``."""
