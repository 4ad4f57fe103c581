"""OCI: the ModelPack artifact, the local store (an OCI image layout) and registry transport."""
