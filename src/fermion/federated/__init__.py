"""Federated training with Flower's deployment engine: a coordinator job runs the
SuperLink and the ServerApp (FedAvg or FedProx over the sites' updates); each site is a
job of its own, isolated, that runs a SuperNode and trains on its own dataset only."""
