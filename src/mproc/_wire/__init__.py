"""The wire: framing (Connection), Pipe, authentication, Listener/Client, wait().

``connection`` frames messages over a byte stream; ``pipes`` makes the two ends of
a Pipe; ``auth`` is the HMAC challenge/response; ``listener`` carries connections
over Unix and TCP sockets; ``waiting`` waits on several of them at once.
"""
