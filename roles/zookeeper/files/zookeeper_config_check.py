#!/usr/bin/env python3
"""Checks a rendered ZooKeeper configuration file before it replaces the live one (the template
tasks' validate). Standard library only: it runs with the host's python3, beside java_properties.py
(the common role's files/: the .properties reader and the log4j check it shares with the kafka role's
checker). Exit status 0: valid; 1: not, with every problem on stderr, named by the role variable
behind it where there is one.

  zookeeper_config_check.py zoo.cfg [--myid N] FILE
      What QuorumPeerConfig would refuse or silently change: tickTime, initLimit, syncLimit, clientPort,
      secureClientPort (one of the two) and the other numbers (integers in range), the TLS settings
      (absolute key and trust store paths, store types, clientAuth, the Netty factory a TLS port needs), dataDir and dataLogDir (absolute paths), the
      server.N lines (ids 1-255, unique; host:peerPort:electionPort with valid, distinct ports), this
      host's id among them (--myid), booleans and the four-letter-word whitelist.
  zookeeper_config_check.py log4j FILE
      log4j.properties (reload4j): levels, and every appender a logger names is defined.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from java_properties import log4j_problems, read_properties

# zoo.cfg key: (role variable, minimum, maximum or None).
NUMBERS = {
    "tickTime": ("zookeeper_tick_time", 1, None),
    "initLimit": ("zookeeper_init_limit", 1, None),
    "syncLimit": ("zookeeper_sync_limit", 1, None),
    "clientPort": ("pipeline_zookeeper_client_port", 1, 65535),
    "secureClientPort": ("pipeline_zookeeper_secure_client_port", 1, 65535),
    "maxClientCnxns": ("zookeeper_max_client_cnxns", 0, None),
    "autopurge.snapRetainCount": ("zookeeper_autopurge_snap_retain_count", 3, None),
    "autopurge.purgeInterval": ("zookeeper_autopurge_purge_interval", 0, None),
    "minSessionTimeout": ("", -1, None),
    "maxSessionTimeout": ("", -1, None),
}
REQUIRED = {"tickTime": "zookeeper_tick_time", "dataDir": "zookeeper_data_dir"}
PATHS_TLS = ("ssl.keyStore.location", "ssl.trustStore.location", "ssl.quorum.keyStore.location",
             "ssl.quorum.trustStore.location")
STORE_TYPES = ("ssl.keyStore.type", "ssl.trustStore.type", "ssl.quorum.keyStore.type", "ssl.quorum.trustStore.type")
PATHS = {"dataDir": "zookeeper_data_dir", "dataLogDir": "zookeeper_datalog_dir"}
BOOLEANS = ("admin.enableServer", "quorumListenOnAllIPs", "standaloneEnabled", "reconfigEnabled", "sslQuorum",
            "ssl.quorum.hostnameVerification", "ssl.hostnameVerification", "portUnification")
FOUR_LETTER_WORDS = {"ruok", "srvr", "mntr", "stat", "conf", "envi", "cons", "crst", "srst", "dirs", "wchs",
                     "wchc", "wchp", "dump", "isro", "gtmk", "stmk", "hash"}
INT32 = 2**31 - 1


def named(key: str, variable: str) -> str:
    return f"{key} ({variable})" if variable else key


def port_ok(value: str) -> bool:
    return value.isdigit() and 1 <= int(value) <= 65535


def check_zoo_cfg(path: str, myid: int | None) -> list[str]:
    props, duplicates = read_properties(Path(path).read_text())
    problems = [f"{key} is set more than once" for key in duplicates]
    problems += [f"{named(key, variable)} is missing" for key, variable in REQUIRED.items() if key not in props]
    for key, (variable, low, high) in NUMBERS.items():
        if key not in props:
            continue
        value = props[key]
        if not re.fullmatch(r"-?[0-9]+", value):
            problems.append(f"{named(key, variable)}: '{value}' is not an integer")
        elif not low <= int(value) <= (high or INT32):
            problems.append(f"{named(key, variable)}: {value} is not between {low} and {high or INT32}")
    if "clientPort" not in props and "secureClientPort" not in props:
        problems.append("clientPort (pipeline_zookeeper_client_port) or secureClientPort "
                        "(pipeline_zookeeper_secure_client_port) is missing: no client could connect")
    if props.get("clientPort") and props.get("clientPort") == props.get("secureClientPort"):
        problems.append(f"clientPort and secureClientPort are the same port ({props['clientPort']})")
    tls = "secureClientPort" in props or props.get("sslQuorum", "").lower() == "true"
    if tls:
        for key in PATHS_TLS:
            if not props.get(key, "").startswith("/"):
                problems.append(f"{key}: '{props.get(key, '')}' is not an absolute path (needed for TLS)")
        for key in STORE_TYPES:
            if key in props and props[key].upper() not in ("PEM", "JKS", "PKCS12", "BCFKS"):
                problems.append(f"{key}: '{props[key]}' is not PEM, JKS, PKCS12 or BCFKS")
        if "secureClientPort" in props and "NettyServerCnxnFactory" not in props.get("serverCnxnFactory", ""):
            problems.append("secureClientPort needs serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory")
    for key, value in props.items():
        if key.endswith("clientAuth") and key.startswith("ssl.") and value.lower() not in ("need", "want", "none"):
            problems.append(f"{key}: '{value}' is not need, want or none")
    for key, variable in PATHS.items():
        if key in props and not props[key].startswith("/"):
            problems.append(f"{named(key, variable)}: '{props[key]}' is not an absolute path")
    for key in BOOLEANS:
        if key in props and props[key].lower() not in ("true", "false"):
            problems.append(f"{key}: '{props[key]}' is not true or false")
    if "4lw.commands.whitelist" in props:
        words = [word.strip() for word in props["4lw.commands.whitelist"].split(",")]
        unknown = [word for word in words if word not in FOUR_LETTER_WORDS and word != "*"]
        if unknown:
            problems.append(f"4lw.commands.whitelist (zookeeper_4lw_whitelist): unknown word(s) {', '.join(unknown)}")
    servers: dict[int, str] = {}
    for key, value in props.items():
        if not key.startswith("server."):
            continue
        suffix = key.split(".", 1)[1]
        if not suffix.isdigit() or not 1 <= int(suffix) <= 255:
            problems.append(f"{key}: the server id must be an integer from 1 to 255")
            continue
        servers[int(suffix)] = value
        address = re.fullmatch(r"(.+):([0-9]+):([0-9]+)(:participant|:observer)?", value.split(";", 1)[0])
        if not address or not port_ok(address.group(2)) or not port_ok(address.group(3)):
            problems.append(f"{key} (pipeline_zookeeper_peer_port, pipeline_zookeeper_election_port): '{value}' "
                            "is not host:peerPort:electionPort with ports from 1 to 65535")
        elif address.group(2) == address.group(3):
            problems.append(f"{key}: the peer and election ports are the same ({address.group(2)})")
        else:
            for port_key in ("clientPort", "secureClientPort"):
                if props.get(port_key) in (address.group(2), address.group(3)):
                    problems.append(f"{key}: a quorum port is also the {port_key} ({props[port_key]})")
    if servers:
        for key, variable in (("initLimit", "zookeeper_init_limit"), ("syncLimit", "zookeeper_sync_limit")):
            if key not in props:
                problems.append(f"{named(key, variable)} is missing (needed by an ensemble)")
        if myid is not None and myid not in servers:
            problems.append(f"zookeeper_myid {myid} is not one of the server.N ids ({sorted(servers)})")
    return problems


def check_log4j(path: str) -> list[str]:
    props, _ = read_properties(Path(path).read_text())
    return log4j_problems(props)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["zoo.cfg", "log4j"])
    parser.add_argument("file")
    parser.add_argument("--myid", type=int, help="this host's server id (zookeeper_myid)")
    args = parser.parse_args()
    problems = check_zoo_cfg(args.file, args.myid) if args.kind == "zoo.cfg" else check_log4j(args.file)
    if problems:
        print(f"invalid {args.kind}:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
