def test_a_home_made_by_another_process_in_between_is_taken_as_it_is(tmp_path, monkeypatch):
    """Several processes of one new home start at once (web and workers): the one that finds the directory made
    between its look and its mkdir goes on (test_topology once failed on it with FileExistsError)."""
    from pathlib import Path

    from core.private import private_dir

    home = tmp_path / "home"
    real_exists = Path.exists

    def made_in_between(self):
        if self == home:
            home.mkdir(mode=0o700)  # the other process, between the look and the mkdir
            return False
        return real_exists(self)

    monkeypatch.setattr(Path, "exists", made_in_between)
    assert private_dir(home) == home and home.is_dir()
