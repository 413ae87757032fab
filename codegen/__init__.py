"""Schema -> code generator for inferencesh. A development tool; the package never imports it."""
