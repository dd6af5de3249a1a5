"""The suites use the fixtures of logtrial's pytest plugin (harness.pytest_plugin)."""
