"""The server definition as the Panel sends it: decoding (wings-api.md §13.1, §13.2;
panel-contract.md §2.3), the API's ``configuration`` (wings-api.md §4.1) and the round trip
between processes."""

import copy
import json

import pytest

from wingspan import errors
from wingspan.server_config import ServerDefinition

UUID = "d3aac109-e5a0-4331-b03e-3454f7e136dc"

# panel-contract.md §2.3, the Paper example (the Panel's exact shape)
PAPER = {
    "settings": {
        "uuid": UUID,
        "meta": {"name": "Survival", "description": ""},
        "suspended": False,
        "environment": {
            "MINECRAFT_VERSION": "latest", "SERVER_JARFILE": "server.jar", "DL_PATH": "",
            "BUILD_NUMBER": "latest",
            "STARTUP": "java -Xms128M -jar {{SERVER_JARFILE}}",
            "P_SERVER_LOCATION": "de1", "P_SERVER_UUID": UUID,
            "P_SERVER_ALLOCATION_LIMIT": 0,
        },
        "invocation": "java -Xms128M -jar {{SERVER_JARFILE}}",
        "skip_egg_scripts": False,
        "build": {"memory_limit": 2048, "swap": 0, "io_weight": 500, "cpu_limit": 200,
                  "threads": None, "disk_space": 10240, "oom_disabled": True},
        "container": {"image": "ghcr.io/pterodactyl/yolks:java_21", "oom_disabled": True,
                      "requires_rebuild": False},
        "allocations": {"force_outgoing_ip": False,
                        "default": {"ip": "0.0.0.0", "port": 25565},
                        "mappings": {"0.0.0.0": [25565, 25566]}},
        "mounts": [],
        "egg": {"id": "9ac39f3d-0c34-4d93-8174-c52ab9e6c57b", "file_denylist": []},
    },
    "process_configuration": {
        "startup": {"done": [")! For help, type "], "user_interaction": [],
                    "strip_ansi": False},
        "stop": {"type": "command", "value": "stop"},
        "configs": [
            {"parser": "properties", "file": "server.properties", "replace": [
                {"match": "server-ip", "replace_with": "0.0.0.0"},
                {"match": "server-port", "replace_with": "25565"}]},
        ],
    },
}


def paper(**settings):
    doc = copy.deepcopy(PAPER)
    doc["settings"].update(settings)
    return doc


def decode(doc, crash_default=True):
    return ServerDefinition.from_panel(doc, crash_default)


def with_path(doc, path, value):
    """``doc`` with the dotted ``path`` (under the document root) set to ``value``."""
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = doc
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = value
    return doc


# -- decoding (§13.1, §13.2) ------------------------------------------------------------

def test_the_paper_example_decodes_field_by_field():
    """panel-contract.md §2.3: every key of the Panel's document lands in the model."""
    d = decode(PAPER)
    assert (d.uuid, d.name, d.description) == (UUID, "Survival", "")
    assert (d.suspended, d.skip_egg_scripts) == (False, False)
    assert d.invocation == "java -Xms128M -jar {{SERVER_JARFILE}}"
    assert d.environment["P_SERVER_ALLOCATION_LIMIT"] == 0
    assert list(d.environment) == list(PAPER["settings"]["environment"])
    assert d.labels == {}
    a = d.allocations
    assert (a.force_outgoing_ip, a.default_ip, a.default_port) == (False, "0.0.0.0", 25565)
    assert a.mappings == {"0.0.0.0": [25565, 25566]}
    b = d.build
    assert (b.memory_limit, b.swap, b.io_weight, b.cpu_limit, b.threads, b.disk_space,
            b.oom_disabled) == (2048, 0, 500, 200, "", 10240, True)
    assert d.crash_detection_enabled is True
    assert d.mounts == []
    assert d.egg_id == "9ac39f3d-0c34-4d93-8174-c52ab9e6c57b"
    assert d.file_denylist == []
    assert d.container.image == "ghcr.io/pterodactyl/yolks:java_21"
    assert d.process.startup.done == [")! For help, type "]
    assert d.process.startup.user_interaction == []
    assert d.process.startup.strip_ansi is False
    assert (d.process.stop.type, d.process.stop.value) == ("command", "stop")
    assert d.process.configs == PAPER["process_configuration"]["configs"]


def test_mounts_labels_and_denylist_decode():
    """wings-api.md §13.1: mounts {source,target,read_only}, labels string->string,
    egg.file_denylist an array of strings."""
    d = decode(paper(mounts=[{"source": "/srv/shared", "target": "/shared",
                              "read_only": True}],
                     labels={"com.example": "x"},
                     egg={"id": "e", "file_denylist": ["*.jar", "/config.yml"]}))
    assert [(m.source, m.target, m.read_only) for m in d.mounts] == [
        ("/srv/shared", "/shared", True)]
    assert d.labels == {"com.example": "x"}
    assert d.file_denylist == ["*.jar", "/config.yml"]


@pytest.mark.parametrize("path, value, named", [
    ("settings.build.threads", 3, "settings.build.threads must be a string"),
    ("settings.build.io_weight", 65536,
     "settings.build.io_weight must be an integer from 0 to 65535"),
    ("settings.build.io_weight", -1, "settings.build.io_weight"),
    ("settings.build.memory_limit", "1024", "settings.build.memory_limit must be an integer"),
    ("settings.build.memory_limit", 1.5, "settings.build.memory_limit must be an integer"),
    ("settings.build.swap", True, "settings.build.swap must be an integer"),
    ("settings.build.disk_space", 2 ** 63, "settings.build.disk_space must be an integer"),
    ("settings.build", 5, "settings.build must be an object"),
    ("settings.build.oom_disabled", 1, "settings.build.oom_disabled must be a boolean"),
    ("settings.suspended", "false", "settings.suspended must be a boolean"),
    ("settings.skip_egg_scripts", 0, "settings.skip_egg_scripts must be a boolean"),
    ("settings.crash_detection_enabled", "true",
     "settings.crash_detection_enabled must be a boolean"),
    ("settings.invocation", ["java"], "settings.invocation must be a string"),
    ("settings.meta.name", 7, "settings.meta.name must be a string"),
    ("settings.meta", "x", "settings.meta must be an object"),
    ("settings.environment", ["A=1"], "settings.environment must be an object"),
    ("settings.labels", {"a": 1}, "settings.labels.a must be a string"),
    ("settings.allocations.default.port", "25565",
     "settings.allocations.default.port must be an integer"),
    ("settings.allocations.default.ip", 0, "settings.allocations.default.ip must be a string"),
    ("settings.allocations.force_outgoing_ip", "no",
     "settings.allocations.force_outgoing_ip must be a boolean"),
    ("settings.allocations.mappings", {"0.0.0.0": ["25565"]},
     "settings.allocations.mappings.0.0.0.0[0] must be an integer"),
    ("settings.allocations.mappings", {"0.0.0.0": 25565},
     "settings.allocations.mappings.0.0.0.0 must be an array"),
    ("settings.mounts", {"source": "/a"}, "settings.mounts must be an array"),
    ("settings.mounts", [{"source": "/a", "target": "/b", "read_only": "yes"}],
     "settings.mounts[0].read_only must be a boolean"),
    ("settings.mounts", ["/a:/b"], "settings.mounts[0] must be an object"),
    ("settings.egg.id", 12, "settings.egg.id must be a string"),
    ("settings.egg.file_denylist", ["*.jar", 5], "settings.egg.file_denylist[1] must be a string"),
    ("settings.egg.file_denylist", "*.jar", "settings.egg.file_denylist must be an array"),
    ("settings.container.image", 1, "settings.container.image must be a string"),
    ("settings", "x", "settings must be an object"),
    ("process_configuration", [1], "process_configuration must be an object"),
    ("process_configuration.startup.done", 5,
     "process_configuration.startup.done must be an array"),
    ("process_configuration.startup.done", ["ok", 5],
     "process_configuration.startup.done[1] must be a string"),
    ("process_configuration.startup.user_interaction", [1],
     "process_configuration.startup.user_interaction[0] must be a string"),
    ("process_configuration.startup.strip_ansi", "yes",
     "process_configuration.startup.strip_ansi must be a boolean"),
    ("process_configuration.stop.type", 1, "process_configuration.stop.type must be a string"),
    ("process_configuration.stop.value", ["stop"],
     "process_configuration.stop.value must be a string"),
    ("process_configuration.configs", {"file": "a"},
     "process_configuration.configs must be an array"),
])
def test_a_wrong_type_fails_the_whole_document_naming_the_field(path, value, named):
    """wings-api.md §13.1, last paragraph: a wrong type makes the whole settings fail
    (a number for threads, io_weight > 65535...)."""
    with pytest.raises(errors.ValidationFailed) as failure:
        decode(with_path(PAPER, path, value))
    assert named in str(failure.value)
    assert failure.value.status == 422


def test_null_everywhere_leaves_zero_values():
    """wings-api.md §13.1: null leaves the zero value; crash_detection_enabled keeps the
    node's default (it is preset before decoding)."""
    settings = {key: None for key in PAPER["settings"]}
    settings["uuid"] = UUID
    d = decode({"settings": settings, "process_configuration": None}, crash_default=False)
    assert (d.name, d.description, d.invocation, d.egg_id, d.container.image) == (
        "", "", "", "", "")
    assert (d.suspended, d.skip_egg_scripts, d.crash_detection_enabled) == (
        False, False, False)
    assert (d.environment, d.labels, d.mounts, d.file_denylist) == ({}, {}, [], [])
    assert (d.allocations.default_ip, d.allocations.default_port,
            d.allocations.mappings) == ("", 0, {})
    assert d.build.memory_limit == d.build.cpu_limit == d.build.io_weight == 0
    assert d.build.threads == ""
    assert d.process.startup.done == [] and d.process.stop.type == ""
    assert d.process.configs == []


def test_null_members_of_objects_are_zero_values_too():
    doc = with_path(PAPER, "settings.build", {"memory_limit": None, "threads": None,
                                              "oom_disabled": None})
    doc = with_path(doc, "process_configuration.startup.done", None)
    d = decode(doc)
    assert (d.build.memory_limit, d.build.threads, d.build.oom_disabled) == (0, "", False)
    assert d.process.startup.done == []


def test_crash_detection_defaults_to_the_node_setting_unless_sent():
    """wings-api.md §13.1: not sent by the Panel; defaults to
    system.crash_detection.enabled."""
    assert decode(PAPER, crash_default=False).crash_detection_enabled is False
    assert decode(PAPER, crash_default=True).crash_detection_enabled is True
    sent = paper(crash_detection_enabled=False)
    assert decode(sent, crash_default=True).crash_detection_enabled is False


def test_unknown_keys_are_ignored():
    """wings-api.md §13.1: unknown keys ignored (container.oom_disabled and
    requires_rebuild included)."""
    doc = paper(future_key={"x": 1})
    doc["settings"]["build"]["something_new"] = "x"
    doc["process_configuration"]["later"] = [1]
    assert decode(doc).build == decode(PAPER).build


def test_a_legacy_single_done_string_becomes_a_list():
    """panel-contract.md §2.3: startup.done is wrapped into an array when a string."""
    doc = with_path(PAPER, "process_configuration.startup.done", "Done (")
    assert decode(doc).process.startup.done == ["Done ("]


def test_null_done_entries_are_dropped():
    doc = with_path(PAPER, "process_configuration.startup.done", [None, "regex:^ok$"])
    assert decode(doc).process.startup.done == ["regex:^ok$"]


def test_config_file_entries_are_kept_as_sent():
    """wings-api.md §13.2: configs go to the parsers unchanged (they check each entry)."""
    configs = [{"file": "a.yml", "parser": "yaml", "replace": [
        {"match": "servers.*.address", "if_value": "regex:^x$", "replace_with": 5}]},
        {"parser": "json"}]
    doc = with_path(PAPER, "process_configuration.configs", configs)
    assert decode(doc).process.configs == configs


def test_integral_floats_are_read_as_integers():
    doc = with_path(PAPER, "settings.build.memory_limit", 1024.0)
    doc = with_path(doc, "settings.allocations.mappings", {"0.0.0.0": [25565.0]})
    d = decode(doc)
    assert d.build.memory_limit == 1024 and type(d.build.memory_limit) is int
    assert d.allocations.mappings == {"0.0.0.0": [25565]}


def test_php_empty_arrays_are_read_as_empty_objects():
    """panel-contract.md §2.3: PHP serialises an empty map as []."""
    d = decode(paper(environment=[], allocations={"default": {"ip": "0.0.0.0", "port": 1},
                                                  "mappings": []}))
    assert d.environment == {} and d.allocations.mappings == {}


def test_the_uuid_comes_from_the_document_when_settings_lack_it():
    doc = copy.deepcopy(PAPER)
    del doc["settings"]["uuid"]
    doc["uuid"] = UUID
    assert decode(doc).uuid == UUID


def test_settings_for_another_server_are_refused():
    """wings-api.md §13.1: uuid must equal the requested uuid."""
    doc = dict(copy.deepcopy(PAPER), uuid="9f3c0000-0000-4000-8000-000000000000")
    with pytest.raises(errors.ValidationFailed) as failure:
        decode(doc)
    assert "settings.uuid" in str(failure.value)


@pytest.mark.parametrize("uuid", ["", "../etc", "a/b", ".", "..", "x" * 65, None])
def test_a_uuid_that_cannot_name_a_directory_is_refused(uuid):
    """The uuid names <system.data>/<uuid>: nothing that escapes it is accepted."""
    with pytest.raises(errors.ValidationFailed) as failure:
        decode(paper(uuid=uuid))
    assert "settings.uuid" in str(failure.value)


def test_a_document_that_is_not_an_object_is_refused():
    with pytest.raises(errors.ValidationFailed):
        decode(["settings"])


# -- disk limit (Appendix A) ------------------------------------------------------------

@pytest.mark.parametrize("disk_space, limit", [(10240, 10737418240), (1, 1048576), (0, 0),
                                               (-5, 0)])
def test_disk_limit_bytes(disk_space, limit):
    """wings-behaviour.md Appendix A: disk_space * 1024 * 1024, 0 = unlimited."""
    doc = with_path(PAPER, "settings.build.disk_space", disk_space)
    assert decode(doc).disk_limit_bytes() == limit


# -- the API's configuration (§4.1) -----------------------------------------------------

def test_api_configuration_of_the_paper_example_exactly():
    """wings-api.md §4.1: key order, Go zero values, map keys sorted as Go's encoder
    writes them, no container.oom_disabled / requires_rebuild; collections the Panel sent
    empty stay empty."""
    configuration = decode(PAPER).api_configuration()
    assert json.dumps(configuration) == json.dumps({
        "uuid": UUID,
        "meta": {"name": "Survival", "description": ""},
        "suspended": False,
        "invocation": "java -Xms128M -jar {{SERVER_JARFILE}}",
        "skip_egg_scripts": False,
        "environment": {
            "BUILD_NUMBER": "latest", "DL_PATH": "", "MINECRAFT_VERSION": "latest",
            "P_SERVER_ALLOCATION_LIMIT": 0, "P_SERVER_LOCATION": "de1",
            "P_SERVER_UUID": UUID, "SERVER_JARFILE": "server.jar",
            "STARTUP": "java -Xms128M -jar {{SERVER_JARFILE}}",
        },
        "labels": None,
        "allocations": {"force_outgoing_ip": False,
                        "default": {"ip": "0.0.0.0", "port": 25565},
                        "mappings": {"0.0.0.0": [25565, 25566]}},
        "build": {"memory_limit": 2048, "swap": 0, "io_weight": 500, "cpu_limit": 200,
                  "disk_space": 10240, "threads": "", "oom_disabled": True},
        "crash_detection_enabled": True,
        "mounts": [],
        "egg": {"id": "9ac39f3d-0c34-4d93-8174-c52ab9e6c57b", "file_denylist": []},
        "container": {"image": "ghcr.io/pterodactyl/yolks:java_21"},
    })


def test_api_configuration_key_order_at_every_level():
    """wings-api.md §4.1: the keys in this order."""
    configuration = decode(paper(labels={"b": "1", "a": "2"}, mounts=[
        {"source": "/s", "target": "/t", "read_only": False}])).api_configuration()
    assert list(configuration) == [
        "uuid", "meta", "suspended", "invocation", "skip_egg_scripts", "environment",
        "labels", "allocations", "build", "crash_detection_enabled", "mounts", "egg",
        "container"]
    assert list(configuration["meta"]) == ["name", "description"]
    assert list(configuration["allocations"]) == ["force_outgoing_ip", "default", "mappings"]
    assert list(configuration["allocations"]["default"]) == ["ip", "port"]
    assert list(configuration["build"]) == [
        "memory_limit", "swap", "io_weight", "cpu_limit", "disk_space", "threads",
        "oom_disabled"]
    assert list(configuration["mounts"][0]) == ["target", "source", "read_only"]
    assert list(configuration["egg"]) == ["id", "file_denylist"]
    assert list(configuration["labels"]) == ["a", "b"]


def test_api_configuration_shows_unset_collections_as_null():
    """wings-api.md §4.1: environment, labels, mappings, mounts and file_denylist are
    null when the Panel left them out or sent null, as Go encodes a nil map or slice;
    container is {} without an image."""
    settings = {"uuid": UUID, "allocations": {"default": {"ip": "", "port": 0}},
                "mounts": None, "egg": {"id": "e", "file_denylist": None}}
    configuration = decode({"settings": settings}).api_configuration()
    assert configuration["environment"] is None
    assert configuration["labels"] is None
    assert configuration["allocations"]["mappings"] is None
    assert configuration["mounts"] is None
    assert configuration["egg"]["file_denylist"] is None
    assert configuration["container"] == {}
    assert configuration["build"] == {"memory_limit": 0, "swap": 0, "io_weight": 0,
                                      "cpu_limit": 0, "disk_space": 0, "threads": "",
                                      "oom_disabled": False}


def test_api_configuration_does_not_expose_the_definition():
    d = decode(PAPER)
    configuration = d.api_configuration()
    configuration["environment"]["DL_PATH"] = "changed"
    configuration["allocations"]["mappings"]["0.0.0.0"].append(1)
    assert d.environment["DL_PATH"] == ""
    assert d.allocations.mappings["0.0.0.0"] == [25565, 25566]


# -- round trip between processes -------------------------------------------------------

def test_to_panel_doc_round_trips_through_json():
    """A definition handed to a worker as JSON rebuilds equal, whatever the worker's
    crash-detection default."""
    original = decode(paper(labels={"x": "y"}, mounts=[
        {"source": "/s", "target": "/t", "read_only": True}]), crash_default=False)
    doc = json.loads(json.dumps(original.to_panel_doc()))
    rebuilt = ServerDefinition.from_panel(doc, True)
    assert rebuilt == original
    assert rebuilt.crash_detection_enabled is False
    assert rebuilt.api_configuration() == original.api_configuration()
    assert doc["uuid"] == UUID


def test_to_panel_doc_keeps_keys_the_model_leaves_out():
    """The raw settings feed the {{server.*}} placeholders of config files (§13.2)."""
    doc = decode(PAPER).to_panel_doc()
    assert doc["settings"]["container"]["requires_rebuild"] is False
    assert doc["process_configuration"] == PAPER["process_configuration"]


def test_a_round_trip_keeps_null_and_empty_apart():
    settings = {"uuid": UUID, "mounts": [], "environment": None}
    original = decode({"settings": settings})
    rebuilt = decode(json.loads(json.dumps(original.to_panel_doc())))
    assert rebuilt.api_configuration()["mounts"] == []
    assert rebuilt.api_configuration()["environment"] is None


def test_decoding_leaves_the_document_unchanged():
    """The definition writes the effective uuid and crash-detection flag into its own
    settings, not into the caller's document (which it shares values with)."""
    doc = copy.deepcopy(PAPER)
    del doc["settings"]["uuid"]
    doc["uuid"] = UUID
    sent = copy.deepcopy(doc)
    definition = ServerDefinition.from_panel(doc, False)
    assert doc == sent
    assert definition.to_panel_doc()["settings"]["uuid"] == UUID
    assert definition.to_panel_doc()["settings"]["crash_detection_enabled"] is False
