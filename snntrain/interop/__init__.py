"""Exchange with other tools: NIR graphs (`nir_graph`)."""
