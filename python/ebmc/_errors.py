"""ebmc.Error: every failure of the package."""

# base/ebm_status.h, in order
STATUS_NAMES = ("ok", "i/o error", "format error", "unsupported", "invalid", "shape error", "not static",
                "out of memory", "numeric error", "internal error")


class Error(Exception):
    """A failure of ebmc or libebm.  str(e) is the one-line message (libebm's
    own when it comes from there); e.code is libebm's status (0 when the
    failure was found by the Python side), e.status its name."""

    def __init__(self, message, code=0):
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def status(self):
        return STATUS_NAMES[self.code] if 0 <= self.code < len(STATUS_NAMES) else "error"
