"""One module per webhook sender (its verifier, signer, headers, handshake and triggerConfig
model); `registry.py` lists them and derives every list the rest of Octipus reads.
See docs/providers.md for how to add one."""
