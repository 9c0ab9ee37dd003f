"""The web layer: a WSGI app served by gevent's pywsgi (health now; the inbox and chat later)."""
