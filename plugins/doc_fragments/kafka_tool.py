"""Documentation fragment: the options of the modules that run Kafka's own command-line tools
(plugins/module_utils/kafka_tools.py, KAFKA_TOOL_ARGS)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kafka_home:
    description: Kafka installation directory (the one holding the tool under bin/).
    type: path
    required: true
  bootstrap_servers:
    description: Comma-separated host:port list of brokers to bootstrap from.
    type: str
    required: true
  timeout:
    description: Seconds each tool call may take to get its answer.
    type: int
    default: 60
  command_config:
    description:
      - Client properties file of the tool's connection (its C(--command-config)), for example
        C(security.protocol=SSL) with the keystore and truststore of a TLS listener. The module adds
        its timeouts to a copy.
    type: path
requirements: [java on PATH or JAVA_HOME (the tools are JVM programs)]
"""
