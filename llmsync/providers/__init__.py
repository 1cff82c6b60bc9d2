"""Provider modules: one per wire format; see base.py for the contract."""
