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
    description:
      - Protocol of the listener at I(bootstrap_servers). When not given, I(command_config)'s
        C(security.protocol), else C(PLAINTEXT).
    type: str
    choices: [PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL]
  sasl_mechanism:
    description:
      - SASL mechanism of the module's own login (with a SASL I(security_protocol)). When not
        given, I(command_config)'s C(sasl.mechanism), else C(SCRAM-SHA-512).
    type: str
    choices: [SCRAM-SHA-512, SCRAM-SHA-256, PLAIN]
  sasl_username:
    description: User the module logs in as (required with a SASL I(security_protocol)).
    type: str
  sasl_password: {description: Password of I(sasl_username)., type: str}
  ssl_cafile:
    description: CA certificate file (PEM) to verify the brokers with (SSL, SASL_SSL).
    type: path
  ssl_certfile:
    description:
      - PEM file with the module's client certificate chain, for a listener that requires mutual
        TLS (SSL, SASL_SSL); it holds the private key too unless I(ssl_keyfile) is given.
      - The broker names the module by this certificate (its C(ssl.principal.mapping.rules)).
    type: path
  ssl_keyfile:
    description: PEM file with the private key of I(ssl_certfile), when that file lacks it.
    type: path
  ssl_check_hostname:
    description:
      - Check that the broker's certificate names the host of I(bootstrap_servers) (and of the
        brokers it advertises). Turn off only for certificates without those names.
    type: bool
    default: true
  command_config:
    description:
      - A Kafka client properties file, the one Kafka's own tools take as C(--command-config)
        (for example the kafka role's C(/etc/kafka-pipeline/kafka-admin.properties)). Its
        C(security.protocol), C(sasl.mechanism), C(sasl.jaas.config) username and password,
        PEM truststore (C(ssl.truststore.location), for I(ssl_cafile)), PEM keystore
        (C(ssl.keystore.location), key and chain in one file, for I(ssl_certfile)) and an empty
        C(ssl.endpoint.identification.algorithm) (I(ssl_check_hostname=false)) stand for the
        options not given in the task.
    type: path
"""
