import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from cic_engine.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


class MailboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str
    port: int = 993


class MailboxAdapter:
    """A registry entry as an installed adapter kind would provide (only its Config is used here)."""

    kind: ClassVar[str] = "mailbox"
    Config: ClassVar[type[BaseModel]] = MailboxSettings


KINDS = {"mailbox": MailboxAdapter}


def write(dir_: Path, name: str, text: str) -> Path:
    path = dir_ / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def conf_dir(tmp_path) -> Path:
    (tmp_path / "channels").mkdir()
    write(tmp_path, "cic.toml", """\
        [engine]
        node = "n1"
        [[queues]]
        name = "general"
        """)
    return tmp_path


def problems(conf_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(conf_dir / "cic.toml", KINDS)
    return [str(p) for p in info.value.problems]


def test_the_shipped_configuration_is_valid():
    loaded = load_config(REPO / "cic.toml")  # with the installed adapter kinds
    assert loaded.cic.web.bind == "127.0.0.1:8080" and loaded.cic.database.url == ""
    assert {q.name for q in loaded.cic.queues} >= {"general", "chat"}
    assert [(a.name, a.kind) for a in loaded.adapters] == [("webchat", "webchat")]
    assert all(a.password_hash and a.password_hash.startswith("$argon2id$") for a in loaded.cic.agents)


def test_a_valid_adapter_file_is_loaded_with_its_kinds_settings(conf_dir):
    write(conf_dir, "channels/email-support.toml", 'kind = "mailbox"\nhost = "imap.example.com"\n')
    write(conf_dir, "channels/email-sales.toml", 'kind = "mailbox"\nenabled = false\nhost = "imap.example.com"\nport = 143\n')
    loaded = load_config(conf_dir / "cic.toml", KINDS)
    by_name = {a.name: a for a in loaded.adapters}
    assert by_name["email-support"].settings.port == 993 and by_name["email-support"].enabled
    assert by_name["email-sales"].settings.port == 143 and not by_name["email-sales"].enabled


def test_an_unknown_key_names_file_and_key(conf_dir):
    write(conf_dir, "cic.toml", '[engine]\nnode = "n1"\nnod = "typo"\n')
    assert problems(conf_dir) == [f"{conf_dir}/cic.toml: engine.nod: unknown key"]


def test_a_wrong_type_names_file_key_and_value(conf_dir):
    write(conf_dir, "cic.toml", '[database]\npool_max = "ten"\n')
    [problem] = problems(conf_dir)
    assert problem.startswith(f"{conf_dir}/cic.toml: database.pool_max: Input should be a valid integer")
    assert "'ten'" in problem


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nowhere.toml", KINDS)
    assert str(info.value) == f"{tmp_path}/nowhere.toml: (file): file not found"


def test_broken_toml_is_named_with_its_line(conf_dir):
    write(conf_dir, "channels/sms.toml", 'kind = "mailbox"\nhost = \n')
    [problem] = problems(conf_dir)
    assert problem.startswith(f"{conf_dir}/channels/sms.toml: (file): not valid TOML") and "line 2" in problem


def test_a_duplicate_adapter_name_names_both_files(conf_dir):
    write(conf_dir, "channels/a.toml", 'kind = "mailbox"\nname = "support"\nhost = "h"\n')
    write(conf_dir, "channels/b.toml", 'kind = "mailbox"\nname = "support"\nhost = "h"\n')
    assert problems(conf_dir) == [
        f"{conf_dir}/channels/b.toml: name: duplicate adapter name 'support' (also in {conf_dir}/channels/a.toml)"
    ]


def test_an_unknown_adapter_kind_is_refused(conf_dir):
    write(conf_dir, "channels/x.toml", 'kind = "mailbx"\n')
    assert problems(conf_dir) == [f"{conf_dir}/channels/x.toml: kind: unknown adapter kind 'mailbx' (known: mailbox)"]


def test_adapter_settings_are_checked_by_the_kinds_model(conf_dir):
    write(conf_dir, "channels/mail.toml", 'kind = "mailbox"\nport = "imap"\nhots = "x"\n')
    assert sorted(problems(conf_dir)) == sorted([
        f"{conf_dir}/channels/mail.toml: host: Field required",
        f"{conf_dir}/channels/mail.toml: port: Input should be a valid integer, unable to parse string as an integer (got 'imap')",
        f"{conf_dir}/channels/mail.toml: hots: unknown key",
    ])


def test_cross_references_are_checked(conf_dir):
    write(conf_dir, "cic.toml", """\
        [engine]
        default_queue = "sales"
        [[queues]]
        name = "general"
        [[queues]]
        name = "general"
        [[agents]]
        login = "alice"
        name = "Alice"
        queues = ["general", "billing"]
        [[agents]]
        login = "alice"
        name = "Alice again"
        roles = ["agent", "boss"]
        """)
    found = problems(conf_dir)
    prefix = f"{conf_dir}/cic.toml: "
    assert found == [prefix + "agents[1].roles: Value error, unknown role(s) ['boss']; use agent, supervisor, admin or department"]
    write(conf_dir, "cic.toml", (conf_dir / "cic.toml").read_text().replace('"agent", "boss"', '"agent"'))
    assert problems(conf_dir) == [
        prefix + "queues[1].name: duplicate queue 'general'",
        prefix + "engine.default_queue: no queue named 'sales' (queues: general, general)",
        prefix + "agents[0].queues[1]: no queue named 'billing'",
        prefix + "agents[1].login: duplicate agent 'alice'",
    ]


def test_every_problem_in_every_file_is_reported_at_once(conf_dir):
    write(conf_dir, "channels/a.toml", 'kind = "mailbox"\n')
    write(conf_dir, "channels/b.toml", 'kind = "nope"\n')
    found = problems(conf_dir)
    assert len(found) == 2 and "a.toml: host" in found[0] and "b.toml: kind" in found[1]


@pytest.mark.parametrize(
    ("toml", "key", "fragment"),
    [
        ('[web]\nbind = "8080"\n', "web.bind", "must be host:port"),
        ('[database]\nurl = "mysql://x"\n', "database.url", "must start with postgresql://"),
        ('[database]\npool_min = 5\npool_max = 2\n', "database", "pool_max (2) is below pool_min (5)"),
        ('[engine]\nphone_region = "XX"\n', "engine.phone_region", "unknown phone region"),
        ('[engine]\nnode = "Node One"\n', "engine.node", "should match pattern"),
        ('[[queues]]\nname = "general"\nchannels = ["pigeon"]\n', "queues[0].channels[0]", "Input should be"),
        ('[[queues]]\nname = "general"\n[queues.hours]\nholiday_calendar = "XX"\n', "queues[0].hours.holiday_calendar",
         "unknown holiday calendar 'XX'"),
        ('[[queues]]\nname = "general"\n[queues.hours]\nholiday_calendar = "US-ZZ"\n',
         "queues[0].hours.holiday_calendar", "US has no subdivision 'ZZ'"),
        ('[[integrations.crm]]\nname = "crm"\nurl = "https://crm.example.com/q?who={customer}"\n',
         "integrations.crm[0].url", "unknown placeholder {customer}"),
        ('[[integrations.crm]]\nname = "crm"\nurl = "https://{email}/q"\n', "integrations.crm[0].url",
         "with a fixed host"),
        ('[[integrations.crm]]\nname = "crm"\nlink = "javascript:alert(1)"\n', "integrations.crm[0].link",
         "must be an http:// or https:// address"),
        ('[[integrations.crm]]\nname = "crm"\nlink = "https://crm.example.com/c/{phone}"\n'
         'fields = [{ label = "Orders", path = "orders" }]\n', "integrations.crm[0]", "fields are read from the answer of url"),
        ('[[integrations.crm]]\nname = "crm"\nlink = "https://crm.example.com/c/{phone}"\nqueues = ["sales"]\n',
         "(file)", "integrations.crm[0].queues: no queue named 'sales'"),
    ],
)
def test_bad_values_are_explained(conf_dir, toml, key, fragment):
    write(conf_dir, "cic.toml", toml)
    found = problems(conf_dir)
    assert any(p.startswith(f"{conf_dir}/cic.toml: {key}: ") and fragment in p for p in found), found


def test_check_config_command_refuses_a_bad_file_with_exit_2(conf_dir):
    write(conf_dir, "channels/email.toml", 'kind = "email"\naddress = "support@example.com"\n')
    write(conf_dir, "channels/telex.toml", 'kind = "telex"\n')
    result = subprocess.run(
        [sys.executable, "-m", "cic_engine", "check-config", "--config", str(conf_dir / "cic.toml")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"{conf_dir}/channels/email.toml: imap: Field required" in result.stderr
    assert f"{conf_dir}/channels/telex.toml: kind: unknown adapter kind 'telex'" in result.stderr


def test_check_config_command_accepts_the_shipped_file():
    result = subprocess.run(
        [sys.executable, "-m", "cic_engine", "check-config", "--config", str(REPO / "cic.toml")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")
    # Only what an operator needs: no library's greeting on every command (pikepdf's was).
    assert " INFO " not in result.stderr, result.stderr
