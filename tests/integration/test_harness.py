from tests.integration.netns import Topology


def test_topology_smoke(topology: Topology) -> None:
    topology.host.run("ip", "link", "add", "br9", "type", "bridge")
    topology.host.run("ip", "addr", "add", "10.9.0.1/24", "dev", "br9")
    topology.host.run("ip", "link", "set", "br9", "up")
    g = topology.add_guest("br9")
    g.ns.run("ip", "addr", "add", "10.9.0.2/24", "dev", "eth0")
    g.ns.run("ping", "-c1", "-W2", "10.9.0.1")
    topology.host.run("ping", "-c1", "-W2", "198.51.100.2")
    assert "10.9.0.2" in g.ns.run("ip", "addr").stdout
