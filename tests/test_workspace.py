from __future__ import annotations

from pathlib import Path

import pytest

from mloop.config import find_workspace, load_settings
from mloop.errors import InvalidInput, NotFound
from mloop.workspace import Workspace


def test_init_writes_config_and_state(tmp_path: Path) -> None:
    ws, created = Workspace.init(tmp_path / "w", environ={})
    assert created
    assert (tmp_path / "w" / "mloop.toml").exists()
    assert (tmp_path / "w" / ".mloop" / "mloop.db").exists()
    ws.close()
    again, created_again = Workspace.init(tmp_path / "w", environ={})
    assert not created_again
    again.close()


def test_workspace_is_found_by_walking_up(tmp_path: Path) -> None:
    Workspace.init(tmp_path, environ={})[0].close()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_workspace(start=deep, environ={}) == tmp_path.resolve()


def test_env_and_flag_choose_the_workspace(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "w", environ={})[0].close()
    assert (
        find_workspace(environ={"MLOOP_WORKSPACE": str(tmp_path / "w")})
        == (tmp_path / "w").resolve()
    )
    with pytest.raises(NotFound, match="mloop init"):
        find_workspace(tmp_path / "elsewhere", environ={})


def test_no_workspace_anywhere_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="No mloop workspace"):
        find_workspace(start=tmp_path, environ={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    (tmp_path / "mloop.toml").write_text('[store]\nurl = "sqlite:///x.db"\n[user]\nname = "file"\n')
    settings = load_settings(
        tmp_path, {"MLOOP_STORE_URL": "sqlite:////tmp/o.db", "MLOOP_ARTIFACTS": "/tmp/art"}
    )
    assert settings.store_url == "sqlite:////tmp/o.db"
    assert settings.artifacts_path == Path("/tmp/art")
    assert settings.user == "file"
    plain = load_settings(tmp_path, {})
    assert plain.store_url == f"sqlite:///{tmp_path.resolve() / 'x.db'}"


def test_broken_toml_is_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "mloop.toml").write_text("[store\n")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        load_settings(tmp_path, {})


def test_a_failed_init_leaves_no_half_made_workspace(tmp_path: Path) -> None:
    """An unreachable store fails init; the folder must not then look like a workspace."""
    target = tmp_path / "ws"
    broken = {"MLOOP_STORE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    with pytest.raises(InvalidInput):
        Workspace.init(target, environ=broken)
    assert not target.exists()
    existing = tmp_path / "project"
    (existing / "data").mkdir(parents=True)
    with pytest.raises(InvalidInput):
        Workspace.init(existing, environ=broken)
    assert sorted(p.name for p in existing.iterdir()) == ["data"]


def test_without_a_user_name_the_uid_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container uid with no passwd entry and no $USER: "uid-1000" still says who acted."""
    import getpass
    import os

    def no_name() -> str:
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", no_name)
    Workspace.init(tmp_path, environ={})[0].close()
    assert load_settings(tmp_path, {}).user == f"uid-{os.getuid()}"
