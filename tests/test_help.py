"""The help screens: every option explained in one line, grouped in panels, and `run --help` within two
screens at 100 columns; the same name for the same thing across commands."""

import subprocess
import sys

import click
import pytest
import typer
from typer.testing import CliRunner

from nstbatch.cli import app

HELP_LENGTH = 70  # characters: one line beside the option's name at 100 columns


def commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


ALL = list(commands(typer.main.get_command(app)))


@pytest.mark.parametrize("name,command", ALL, ids=[name for name, _ in ALL])
def test_every_option_has_one_line_of_help_in_a_panel(name, command):
    for param in command.params:
        if param.name == "help" or not isinstance(param, click.Option):
            continue
        assert param.help, f"{name} {param.opts[0]}: no help"
        assert len(param.help) <= HELP_LENGTH, f"{name} {param.opts[0]}: {len(param.help)} characters of help"
        if len(command.params) > 6:  # the big commands group their options
            assert getattr(param, "rich_help_panel", None), f"{name} {param.opts[0]}: in no panel"


def test_run_help_fits_two_screens_and_the_root_help_one_line_a_command():
    def shown(*args):
        done = subprocess.run([sys.executable, "-m", "nstbatch", *args], capture_output=True, text=True,
                              env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"}, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert len(shown("run", "--help")) <= 80
    root = shown("--help")
    listed = [line for line in root if line.startswith("│ ") and line.split()[1] in dict(ALL) | {"export": 1}]
    assert len(listed) == len({name.split()[0] for name, _ in ALL})  # each command on one line


@pytest.mark.parametrize("command", ["run", "video"])
def test_inputs_and_input_name_the_same_option(command):
    options = dict(ALL)[command].params
    given = next(param for param in options if "--inputs" in param.opts)
    assert "--input" in given.opts and "-i" in given.opts


@pytest.mark.parametrize("name,command", ALL, ids=[name for name, _ in ALL])
def test_on_off_options_show_no_value_to_give(name, command):
    # A flag takes no value: its help line shows none (Typer would print "<bool>" there).
    result = CliRunner().invoke(app, [*name.split(), "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    shown = [line for line in result.output.splitlines() if "<bool>" in line and "--help" not in line]
    assert shown == [], shown


@pytest.mark.parametrize("name", ["run", "video", "train", "reconstruct", "texture", "info", "status"])
def test_the_installed_command_builds_only_the_command_it_runs_and_answers_the_same(name):
    from nstbatch.cli import _app_for

    lean = _app_for([name])
    assert lean is not app and len(lean.registered_commands) == 1 and not lean.registered_groups
    assert len(app.registered_commands) > 1 and app.registered_groups  # the whole app is untouched
    runner = CliRunner()
    full, alone = (runner.invoke(a, [name, "--help"], terminal_width=100) for a in (app, lean))
    assert alone.exit_code == full.exit_code == 0 and alone.output == full.output


@pytest.mark.parametrize("first", [[], ["--help"], ["export"], ["models"], ["rn"], ["--version"]])
def test_help_groups_and_unknown_names_get_the_whole_app(first):
    from nstbatch.cli import _app_for

    assert _app_for(first) is app
