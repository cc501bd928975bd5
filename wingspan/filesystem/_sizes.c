/* One directory's regular-file bytes and the names of its subdirectories.

   The disk-usage walk (tree.disk_usage_fd) runs on every server every disk_check_interval
   over trees of hundreds of thousands of files. In Python, building a DirEntry and a
   stat_result per file costs as much CPU again as the kernel's own work, and holds the GIL
   while it does. Here the per-file loop (readdir, fstatat, the sum) runs in C with the GIL
   released: a walk costs what du(1) costs, and the worker's hub keeps serving the console
   meanwhile. Which directories to enter (O_NOFOLLOW, relative to their parent) and what
   to do about errors stays in tree.py. */

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

/* Reads the directory open at fd from its start; returns 0 or an errno. Every entry is
   lstat'ed and its kind taken from that one answer, so an entry swapped since readdir
   counts as what it is now. An entry gone before its lstat counts nothing. */
static int scan(int fd, long long *total, struct names *subdirs)
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

static PyObject *scan_sizes(PyObject *module, PyObject *arg)
{
    int fd = PyObject_AsFileDescriptor(arg);
    if (fd < 0)
        return NULL;
    long long total = 0;
    struct names subdirs = {NULL, 0, 0};
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = scan(fd, &total, &subdirs);
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
            result = Py_BuildValue("(LN)", total, names);
    }
    free(subdirs.buf);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_sizes", scan_sizes, METH_O,
     "scan_sizes(fd) -> (bytes, subdirs)\n\n"
     "The lstat sizes of the regular files directly in the directory open at fd, and the\n"
     "names of its subdirectories (symlinks count nothing and are not listed). Raises\n"
     "OSError when the directory cannot be read."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "wingspan.filesystem._sizes",
    "Per-directory size scan for the disk-usage walk, run without the GIL.", 0, methods,
};

PyMODINIT_FUNC PyInit__sizes(void)
{
    return PyModule_Create(&module);
}
