"""The usage object of wings-behaviour.md §4.2: the ``stats`` event's payload and the API's
``utilization``, built the same way by the worker that measures it and by the API for a
server no worker has reported on yet."""


def usage_object(sample, state, disk_bytes):
    """The §4.2 usage object (``stats`` payload, API ``utilization``), keys in Wings' order."""
    return {
        "memory_bytes": sample["memory_bytes"],
        "memory_limit_bytes": sample["memory_limit_bytes"],
        "cpu_absolute": _go_json_number(sample["cpu_absolute"]),
        "network": {"rx_bytes": sample["network"]["rx_bytes"],
                    "tx_bytes": sample["network"]["tx_bytes"]},
        "uptime": sample["uptime"],
        "state": state,
        "disk_bytes": disk_bytes,
    }


# usage_object's JSON as envelope.dump writes it: the state is one of four plain words.
USAGE_JSON = (b'{"memory_bytes":%d,"memory_limit_bytes":%d,"cpu_absolute":%r,'
              b'"network":{"rx_bytes":%d,"tx_bytes":%d},"uptime":%d,"state":"%s","disk_bytes":%d}')


def usage_json(sample, state, disk_bytes):
    """``envelope.dump(usage_object(sample, state, disk_bytes))``, without building the
    object or going through the JSON encoder: the stats loop publishes one every second."""
    network = sample["network"]
    return USAGE_JSON % (sample["memory_bytes"], sample["memory_limit_bytes"],
                         _go_json_number(sample["cpu_absolute"]), network["rx_bytes"],
                         network["tx_bytes"], sample["uptime"], state.encode(), disk_bytes)


def zero_usage(memory_limit_bytes, state, disk_bytes):
    """The usage object of a stopped server: figures zeroed, the memory limit kept (§4.2)."""
    return usage_object({"memory_bytes": 0, "memory_limit_bytes": memory_limit_bytes,
                         "cpu_absolute": 0, "network": {"rx_bytes": 0, "tx_bytes": 0},
                         "uptime": 0}, state, disk_bytes)


def _go_json_number(value):
    # Go encodes a whole float64 without a fraction ("20", not "20.0"); keep the wire identical.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
