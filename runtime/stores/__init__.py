"""Stores: where runs, journals and events are kept (see base.py for the interface)."""
