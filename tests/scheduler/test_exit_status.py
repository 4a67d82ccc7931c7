"""How an attempt's end is told to a person."""

from fermion.scheduler.executor import ExitStatus, Lost


def test_exit_descriptions():
    assert ExitStatus(0).succeeded and not ExitStatus(1).succeeded
    assert ExitStatus(2).describe() == "exit code 2: see logs"
    assert ExitStatus(None, 9).describe() == "killed by signal 9 (SIGKILL)"
    assert ExitStatus(None, 15).describe() == "killed by signal 15 (SIGTERM)"
    assert ExitStatus(None, 99).describe() == "killed by signal 99 (unknown signal)"
    assert Lost().describe().startswith("lost:")
