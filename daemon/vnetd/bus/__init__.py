"""D-Bus adapter: types in and out, caller identity and authorization, errors, signals.

Nothing here knows how a network is built; everything is delegated to the manager.
"""
