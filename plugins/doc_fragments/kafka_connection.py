"""Documentation fragment: the connection options every Kafka admin module of this repository takes
(plugins/module_utils/kafka_admin.py, KAFKA_COMMON_ARGS)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  bootstrap_servers:
    description: Comma-separated host:port list of brokers to bootstrap from.
    type: str
    required: true
  request_timeout:
    description: Seconds to wait for each request.
    type: int
    default: 30
  security_protocol:
    description: Protocol of the listener at I(bootstrap_servers).
    type: str
    choices: [PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL]
    default: PLAINTEXT
  sasl_mechanism:
    description: SASL mechanism of the module's own login (with a SASL I(security_protocol)).
    type: str
    choices: [SCRAM-SHA-512, SCRAM-SHA-256, PLAIN]
    default: SCRAM-SHA-512
  sasl_username:
    description: User the module logs in as (required with a SASL I(security_protocol)).
    type: str
  sasl_password: {description: Password of I(sasl_username)., type: str}
  ssl_cafile:
    description: CA certificate file (PEM) to verify the brokers with (SSL, SASL_SSL).
    type: path
"""
