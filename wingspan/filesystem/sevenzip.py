"""7z extraction for ``wingspan.filesystem.archives``, which imports this module only when
a 7z archive comes: py7zr loads a whole crypto stack, which every process importing it at
start would pay for."""

import py7zr
import py7zr.exceptions
import py7zr.helpers
import py7zr.io

# What py7zr raises for a damaged, encrypted or unsupported archive (the client's 400).
DAMAGED = (py7zr.exceptions.ArchiveError, py7zr.exceptions.Bad7zFile,
           py7zr.exceptions.PasswordRequired,
           py7zr.exceptions.UnsupportedCompressionMethodError)


def extract(extraction, archive):
    with py7zr.SevenZipFile(archive) as bundle:
        directories, members = [], {}
        for member in bundle.files:
            if member.is_directory:
                directories.append(member.filename)
            elif member.is_symlink or member.is_junction or member.is_socket:
                extraction.skip(member.filename, "symlink or special file")
            elif not extraction.wanted(member.filename):
                extraction.skip(member.filename, "denylisted or the destination itself")
            else:
                key = py7zr.helpers.get_sanitized_output_path(member.filename, None).as_posix()
                members[key] = member
        extraction.prepare(m.uncompressed for m in members.values())
        for directory in directories:
            extraction.directory(directory)
        if not members:
            return
        factory = _SevenZipWriters(extraction, members)
        try:
            bundle.extract(targets=[m.filename for m in members.values()], factory=factory)
        finally:
            factory.abort_open()


class _SevenZipWriters(py7zr.io.WriterFactory):
    """Hands py7zr one jail :class:`WriteStream` per member it decompresses."""

    def __init__(self, extraction, members):
        self.extraction = extraction
        self.members = members
        self.open = []

    def create(self, filename):
        member = self.members[filename]
        mode = (member.posix_mode or 0) & 0o777 or None
        written = member.lastwritetime
        mtime = int(written.totimestamp()) if written is not None else None
        out = self.extraction.open_file(member.filename, mode, mtime)
        writer = _SevenZipWriter(out)
        self.open.append(writer)
        return writer

    def abort_open(self):
        for writer in self.open:
            writer.abort()


class _SevenZipWriter(py7zr.io.Py7zIO):
    def __init__(self, out):
        self.out = out
        self.done = False

    def write(self, data):
        return self.out.write(data)

    def read(self, size=None):
        return b""

    def seek(self, offset, whence=0):
        return 0

    def seekable(self):
        return False

    def flush(self):
        """Nothing buffered."""

    def size(self):
        return self.out.written

    def close(self):
        """py7zr calls this when the member decompressed completely."""
        if not self.done:
            self.done = True
            self.out.commit()

    def abort(self):
        if not self.done:
            self.done = True
            self.out.abort()
