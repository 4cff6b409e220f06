# Managed by Cairn (role buildbot): a minimal `base` www plugin for Debian's buildbot, which
# ships without buildbot-www (Debian bug #883529). It serves static/index.html at / so that
# the master's web server (REST API under /api/v2, /auth) can run.
from buildbot.www.plugin import Application

ep = Application(__name__, "Cairn's minimal buildbot web page (Debian has no buildbot-www)")
