"""What a job is called when its submitter gives no name: what `job list` shows."""

import pytest

from fermion.server.services.jobs import default_name


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["python", "train_keras.py", "--epochs", "12"], "train_keras"),
        (["python", "examples/train_digits.py"], "train_digits"),
        (["python3", "-m", "pkg.train", "--lr", "0.1"], "pkg.train"),
        (["bash", "run.sh", "3"], "run.sh"),
        (["/usr/bin/env"], "env"),
        (["python", "-c", "print(1.5)"], "python"),
    ],
)
def test_a_job_is_named_after_its_script_not_its_last_argument(command, name):
    assert default_name(command) == name
