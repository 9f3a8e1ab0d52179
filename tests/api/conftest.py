# One summary line pair for ./test.sh's closing count.
def pytest_terminal_summary(terminalreporter):
    passed = len(terminalreporter.stats.get("passed", []))
    failed = len(terminalreporter.stats.get("failed", [])) + len(terminalreporter.stats.get("error", []))
    terminalreporter.write_line(f"# pass {passed}")
    terminalreporter.write_line(f"# fail {failed}")
