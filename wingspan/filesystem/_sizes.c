/* One directory's regular-file bytes and the names of its subdirectories, its entries
   given to an owner on the way.

   The disk-usage walk (tree.disk_usage_fd) runs on every server every disk_check_interval
   over trees of hundreds of thousands of files, and the ownership fix (tree.chown_tree)
   before every start. In Python, building a DirEntry and a stat_result per file costs as
   much CPU again as the kernel's own work, and holds the GIL while it does. Here the
   per-file loop (readdir, fstatat, the sum, the lchown) runs in C with the GIL released: a
   walk costs what du(1) costs, and the worker's hub keeps serving the console meanwhile.
   Which directories to enter (O_NOFOLLOW, relative to their parent) and what to do about
   errors stays in tree.py. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Subdirectory names gathered without the GIL: NUL-terminated, one after the other. */
struct names {
    char *buf;
    size_t len;
    size_t cap;
};

static int names_add(struct names *names, const char *name)
{
    size_t size = strlen(name) + 1;
    if (names->len + size > names->cap) {
        size_t cap = names->cap ? names->cap : 4096;
        while (cap < names->len + size)
            cap *= 2;
        char *buf = realloc(names->buf, cap);
        if (buf == NULL)
            return ENOMEM;
        names->buf = buf;
        names->cap = cap;
    }
    memcpy(names->buf + names->len, name, size);
    names->len += size;
    return 0;
}

static int is_dot_or_dotdot(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Who the entries of a scan are given to; chown is false for a plain size scan. */
struct owner {
    int chown;
    uid_t uid;
    gid_t gid;
    long long changed;
};

/* lchown one entry unless it is the owner's already; 0 or an errno (an entry gone since
   its lstat is no error). */
static int give(int dir_fd, const char *name, const struct stat *info, struct owner *owner)
{
    if (info->st_uid == owner->uid && info->st_gid == owner->gid)
        return 0;
    if (fchownat(dir_fd, name, owner->uid, owner->gid, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : errno;
    owner->changed++;
    return 0;
}

/* Reads the directory open at fd from its start; returns 0 or an errno. Every entry is
   lstat'ed and its kind taken from that one answer, so an entry swapped since readdir
   counts as what it is now. An entry gone before its lstat counts nothing. */
static int scan(int fd, long long *total, struct names *subdirs, struct owner *owner)
{
    /* A duplicate shares fd's offset, hence the rewind; closedir closes only the duplicate. */
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return errno;
    DIR *dir = fdopendir(own);
    if (dir == NULL) {
        int err = errno;
        close(own);
        return err;
    }
    rewinddir(dir);
    int err = 0;
    for (;;) {
        errno = 0;
        struct dirent *entry = readdir(dir);
        if (entry == NULL) {
            err = errno;
            break;
        }
        if (is_dot_or_dotdot(entry->d_name))
            continue;
        struct stat info;
        if (fstatat(own, entry->d_name, &info, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (owner->chown) {
            err = give(own, entry->d_name, &info, owner);
            if (err != 0)
                break;
        }
        if (S_ISREG(info.st_mode)) {
            *total += info.st_size;
        } else if (S_ISDIR(info.st_mode)) {
            err = names_add(subdirs, entry->d_name);
            if (err != 0)
                break;
        }
    }
    closedir(dir);
    return err;
}

static PyObject *decode_names(const struct names *names)
{
    PyObject *list = PyList_New(0);
    for (size_t at = 0; list != NULL && at < names->len;) {
        const char *name = names->buf + at;
        PyObject *text = PyUnicode_DecodeFSDefault(name);
        if (text == NULL || PyList_Append(list, text) != 0)
            Py_CLEAR(list);
        Py_XDECREF(text);
        at += strlen(name) + 1;
    }
    return list;
}

static PyObject *scan_directory(PyObject *module, PyObject *args)
{
    PyObject *fd_arg, *owner_arg = Py_None;
    if (!PyArg_ParseTuple(args, "O|O:scan_directory", &fd_arg, &owner_arg))
        return NULL;
    int fd = PyObject_AsFileDescriptor(fd_arg);
    if (fd < 0)
        return NULL;
    struct owner owner = {0, 0, 0, 0};
    if (owner_arg != Py_None) {
        long long uid, gid;
        if (!PyArg_ParseTuple(owner_arg, "LL:owner", &uid, &gid))
            return NULL;
        /* (uid_t)-1 would tell fchownat to leave the id as it is */
        if (uid < 0 || gid < 0 || uid >= (uid_t)-1 || gid >= (gid_t)-1) {
            PyErr_SetString(PyExc_ValueError, "owner ids must be real uid and gid values");
            return NULL;
        }
        owner.chown = 1;
        owner.uid = (uid_t)uid;
        owner.gid = (gid_t)gid;
    }
    long long total = 0;
    struct names subdirs = {NULL, 0, 0};
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = scan(fd, &total, &subdirs, &owner);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (err == ENOMEM) {
        PyErr_NoMemory();
    } else if (err != 0) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
    } else {
        PyObject *names = decode_names(&subdirs);
        if (names != NULL)
            result = Py_BuildValue("(LNL)", total, names, owner.changed);
    }
    free(subdirs.buf);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_directory", scan_directory, METH_VARARGS,
     "scan_directory(fd, owner=None) -> (bytes, subdirs, changed)\n\n"
     "The lstat sizes of the regular files directly in the directory open at fd, and the\n"
     "names of its subdirectories (symlinks count nothing and are not listed). With\n"
     "owner, a (uid, gid) pair, every entry that is not already theirs is lchown'ed to\n"
     "them; changed counts those. Raises OSError when the directory cannot be read or an\n"
     "entry cannot be given away."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "wingspan.filesystem._sizes",
    "Per-directory scan for the disk-usage walk and the ownership fix, run without the GIL.", 0, methods,
};

PyMODINIT_FUNC PyInit__sizes(void)
{
    return PyModule_Create(&module);
}
