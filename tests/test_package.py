import logging

import pytest
from click.testing import CliRunner

import cropseg
from cropseg.cli import main


def test_version_and_help():
    runner = CliRunner()
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert cropseg.__version__ in result.output
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_logger_has_null_handler():
    handlers = logging.getLogger("cropseg").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (cropseg.InvalidInputError, ValueError),
        (cropseg.MetadataError, ValueError),
        (cropseg.SceneReadError, OSError),
        (cropseg.ChecksumError, OSError),
    ],
)
def test_error_tree(cls, builtin):
    assert issubclass(cls, cropseg.CropsegError)
    assert issubclass(cls, builtin)
    with pytest.raises(builtin, match="boom"):
        raise cls("boom")
