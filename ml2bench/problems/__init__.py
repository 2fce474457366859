"""Problems: registry of TOML specs, families, data generators and PDE references."""
