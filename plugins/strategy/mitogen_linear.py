"""Strategy plugin: Mitogen's linear strategy, or Ansible's own where Mitogen is not installed.

Ansible starts a worker process, renders a module and starts a new Python on the host for every
task on every host; most of a run that changes nothing is spent there (on the controller's cores).
Mitogen keeps one Python per host for the whole run and sends it modules and files over that one
channel (`podman exec` once per host, not per task). Measured on the lab (6 hosts, 2 cores): a
`site.yml` that changes nothing took 149 s and 188 CPU-seconds with the pipelined connection,
103 s and 93 CPU-seconds with Mitogen. Order, results and `--check` are those of `linear`.

`scripts/bootstrap` installs Mitogen (requirements.txt). Without it this is the `linear` strategy,
with a warning: the playbooks run the same, only slower.
"""

from __future__ import annotations

from ansible.utils.display import Display

DOCUMENTATION = """
    name: mitogen_linear
    short_description: Mitogen's linear strategy when Mitogen is installed, Ansible's linear otherwise
    description:
        - Task execution as in C(linear), through one persistent Python per host (Mitogen).
        - Falls back to C(ansible.builtin.linear), with a warning, where C(ansible_mitogen) cannot be imported.
    author: kafka-pipeline
"""

try:
    import ansible_mitogen.affinity
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError:
    from ansible.plugins.strategy.linear import StrategyModule as _Linear

    Display().warning(
        "mitogen_linear: Mitogen is not installed (pip install -r requirements.txt); "
        "running Ansible's linear strategy, which is slower"
    )

    class StrategyModule(_Linear):  # type: ignore[no-redef]
        pass

else:
    # No CPU pinning: on two cores Mitogen pins its connection process to one and every process it
    # starts (podman exec, so every module and command on the hosts) to the other, which halved
    # the machine for everything a run starts (apt, Kafka's tools) while the first core idled.
    ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()
    # The controller's own tasks stay Ansible's: they are cheap without Mitogen, and Mitogen's
    # async fails on them (a looped async podman_container, molecule's create step, never finishes).
    ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS = tuple(
        name
        for name in ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS
        if name != "local"
    )
    _Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):  # type: ignore[no-redef]
        pass
