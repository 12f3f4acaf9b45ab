/* SegFuse OpenFX shim: exposes one OFX image effect per SegFuse node and forwards every action to
 * the Python module segfuse.plugin.ofx.bridge. Written against the public OpenFX C API; the few
 * declarations it needs are made here. It embeds CPython, or joins the interpreter already
 * running in the host process, and holds the GIL only while an action runs. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct OfxPropertySetStruct *OfxPropertySetHandle;
typedef int OfxStatus;
typedef struct OfxHost {
    OfxPropertySetHandle host;
    const void *(*fetchSuite)(OfxPropertySetHandle host, const char *suiteName, int suiteVersion);
} OfxHost;
typedef OfxStatus(OfxPluginEntryPoint)(const char *action, const void *handle, OfxPropertySetHandle inArgs,
                                       OfxPropertySetHandle outArgs);
typedef struct OfxPlugin {
    const char *pluginApi;
    int apiVersion;
    const char *pluginIdentifier;
    unsigned int pluginVersionMajor;
    unsigned int pluginVersionMinor;
    void (*setHost)(OfxHost *host);
    OfxPluginEntryPoint *mainEntry;
} OfxPlugin;

#define STATUS_FAILED 1
#define MAX_PLUGINS 32

static OfxPlugin plugins[MAX_PLUGINS];
static char identifiers[MAX_PLUGINS][256];
static int plugin_count = -1;
static PyObject *bridge = NULL;
static volatile int python_finalized = 0; /* set by Py_AtExit: the interpreter is gone for good */

/* Called at the end of Py_FinalizeEx (ours or the host's): from then on no action may touch Python. */
static void mark_python_finalized(void) {
    python_finalized = 1;
    bridge = NULL; /* freed with the interpreter; never decref it */
}

/* Whether Python can still be entered. Some hosts (NatronRenderer) finalize the interpreter they
 * embed before they unload plugins; PyGILState_Ensure then crashes the host at exit. */
static int python_usable(void) {
    if (python_finalized || !Py_IsInitialized()) return 0;
#if PY_VERSION_HEX >= 0x030D0000
    return !Py_IsFinalizing();
#else
    return !_Py_IsFinalizing();
#endif
}

/* The answer to an action that arrives once Python is gone: tear-down actions have nothing left to
 * free, so they succeed; anything else fails without touching the interpreter. */
static int answer_without_python(const char *action) {
    return strcmp(action, "OfxActionUnload") == 0 || strcmp(action, "OfxActionDestroyInstance") == 0 ? 0 : 1;
}

/* The bundle's Contents/Resources folder, found from this library's own path. */
static void resources_dir(char *out, size_t size) {
    Dl_info info;
    char path[4096];
    out[0] = '\0';
    if (!dladdr((void *)resources_dir, &info) || !info.dli_fname) return;
    strncpy(path, info.dli_fname, sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    char *arch_dir = dirname(path);          /* Contents/Linux-x86-64 */
    char *contents = dirname(arch_dir);      /* Contents */
    snprintf(out, size, "%s/Resources", contents);
}

/* Append each line of Resources/NAME to a wide-string list (the recorded interpreter layout). */
static int read_lines(const char *resources, const char *name, PyWideStringList *list, PyConfig *config) {
    char path[4352], line[4096];
    snprintf(path, sizeof(path), "%s/%s", resources, name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        wchar_t *wide = Py_DecodeLocale(line, NULL);
        if (!wide) continue;
        if (list) {
            PyWideStringList_Append(list, wide);
        } else if (n == 0) {
            PyConfig_SetString(config, &config->home, wide);
        }
        PyMem_RawFree(wide);
        n++;
    }
    fclose(f);
    return n;
}

/* Start the interpreter the bundle was built for, whatever the host's PATH, PYTHONHOME, PYTHONPATH
 * and working directory: its home (sys.base_prefix) and sys.path were recorded at install time. */
static int start_pinned_interpreter(const char *resources) {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.use_environment = 0;      /* PYTHONHOME, PYTHONPATH, ... of the host are not ours */
    config.parse_argv = 0;
    config.install_signal_handlers = 0;
    config.site_import = 0;          /* the recorded sys.path already holds what site added */
    config.user_site_directory = 0;
    read_lines(resources, "python_home.txt", NULL, &config);
    if (read_lines(resources, "python_path.txt", &config.module_search_paths, &config) > 0)
        config.module_search_paths_set = 1;
    PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        fprintf(stderr, "SegFuse OFX: cannot start Python: %s\n", status.err_msg ? status.err_msg : "unknown error");
        return 0;
    }
    return 1;
}

/* Start Python if the host has none, then import the bridge with the recorded sys.path. */
static int start_python(void) {
    if (bridge) return 1;
    char resources[4096];
    resources_dir(resources, sizeof(resources));
    if (!Py_IsInitialized()) {
#ifdef SEGFUSE_LIBPYTHON
        /* Hosts load plugins RTLD_LOCAL; extension modules need libpython's symbols global. */
        dlopen(SEGFUSE_LIBPYTHON, RTLD_NOW | RTLD_GLOBAL);
#endif
        if (!start_pinned_interpreter(resources)) return 0;
        PyEval_SaveThread(); /* release the GIL: every action takes it with PyGILState_Ensure */
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *folder = PyUnicode_FromString(resources);
    /* Recorded paths missing from sys.path are added (a Python host's own interpreter); the recorded
     * site dirs' .pth files run (editable installs hook in there). */
    PyObject *setup = folder == NULL ? NULL : PyUnicode_FromFormat(
        "import sys, os, site\n"
        "def _lines(n):\n"
        "    _f = os.path.join(%R, n)\n"
        "    return [p for p in open(_f).read().split('\\n') if p] if os.path.exists(_f) else []\n"
        "for _p in _lines('python_path.txt'):\n"
        "    if _p not in sys.path: sys.path.append(_p)\n"
        "for _p in _lines('python_site_dirs.txt'):\n"
        "    site.addsitedir(_p)\n", folder);
    Py_XDECREF(folder);
    int ok = 0;
    if (setup) {
        PyObject *globals = PyDict_New();
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
        PyObject *r = PyRun_String(PyUnicode_AsUTF8(setup), Py_file_input, globals, globals);
        Py_XDECREF(r);
        Py_DECREF(globals);
        Py_DECREF(setup);
        if (r) {
            bridge = PyImport_ImportModule("segfuse.plugin.ofx.bridge");
            ok = bridge != NULL;
            if (ok) Py_AtExit(mark_python_finalized);
        }
    }
    if (!ok) {
        fprintf(stderr, "SegFuse OFX: cannot start the Python bridge:\n");
        PyErr_Print();
    }
    PyGILState_Release(gil);
    return ok;
}

static OfxStatus dispatch(int index, const char *action, const void *handle, OfxPropertySetHandle in_args,
                          OfxPropertySetHandle out_args) {
    if (python_finalized || (bridge && !python_usable())) return answer_without_python(action);
    if (!bridge) return STATUS_FAILED;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(bridge, "main_entry", "isKKK", index, action,
                                      (unsigned long long)(uintptr_t)handle,
                                      (unsigned long long)(uintptr_t)in_args,
                                      (unsigned long long)(uintptr_t)out_args);
    OfxStatus status = STATUS_FAILED;
    if (r) {
        status = (OfxStatus)PyLong_AsLong(r);
        Py_DECREF(r);
    } else {
        PyErr_Print(); /* the bridge reports errors itself; this is a last resort, never a crash */
    }
    PyGILState_Release(gil);
    return status;
}

static void set_host(OfxHost *host) {
    if (!bridge || !python_usable()) return;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(bridge, "set_host", "K", (unsigned long long)(uintptr_t)host);
    if (!r) PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(gil);
}

#define ENTRY(n)                                                                                 \
    static OfxStatus entry_##n(const char *a, const void *h, OfxPropertySetHandle i,             \
                               OfxPropertySetHandle o) { return dispatch(n, a, h, i, o); }
ENTRY(0) ENTRY(1) ENTRY(2) ENTRY(3) ENTRY(4) ENTRY(5) ENTRY(6) ENTRY(7)
ENTRY(8) ENTRY(9) ENTRY(10) ENTRY(11) ENTRY(12) ENTRY(13) ENTRY(14) ENTRY(15)
ENTRY(16) ENTRY(17) ENTRY(18) ENTRY(19) ENTRY(20) ENTRY(21) ENTRY(22) ENTRY(23)
ENTRY(24) ENTRY(25) ENTRY(26) ENTRY(27) ENTRY(28) ENTRY(29) ENTRY(30) ENTRY(31)
static OfxPluginEntryPoint *entries[MAX_PLUGINS] = {
    entry_0, entry_1, entry_2, entry_3, entry_4, entry_5, entry_6, entry_7,
    entry_8, entry_9, entry_10, entry_11, entry_12, entry_13, entry_14, entry_15,
    entry_16, entry_17, entry_18, entry_19, entry_20, entry_21, entry_22, entry_23,
    entry_24, entry_25, entry_26, entry_27, entry_28, entry_29, entry_30, entry_31};

/* Ask the bridge which nodes to expose: a list of (identifier, major, minor). */
static void enumerate(void) {
    if (plugin_count >= 0) return;
    plugin_count = 0;
    if (!start_python()) return;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *list = PyObject_CallMethod(bridge, "plugin_list", NULL);
    if (!list) {
        PyErr_Print();
    } else {
        Py_ssize_t n = PyList_Size(list);
        for (Py_ssize_t k = 0; k < n && k < MAX_PLUGINS; k++) {
            const char *ident = NULL;
            unsigned int major = 1, minor = 0;
            if (!PyArg_ParseTuple(PyList_GetItem(list, k), "sII", &ident, &major, &minor)) {
                PyErr_Print();
                continue;
            }
            strncpy(identifiers[plugin_count], ident, 255);
            OfxPlugin *p = &plugins[plugin_count];
            p->pluginApi = "OfxImageEffectPluginAPI";
            p->apiVersion = 1;
            p->pluginIdentifier = identifiers[plugin_count];
            p->pluginVersionMajor = major;
            p->pluginVersionMinor = minor;
            p->setHost = set_host;
            p->mainEntry = entries[plugin_count];
            plugin_count++;
        }
        Py_DECREF(list);
    }
    PyGILState_Release(gil);
}

__attribute__((visibility("default"))) int OfxGetNumberOfPlugins(void) {
    enumerate();
    return plugin_count;
}

__attribute__((visibility("default"))) OfxPlugin *OfxGetPlugin(int nth) {
    enumerate();
    return (nth >= 0 && nth < plugin_count) ? &plugins[nth] : NULL;
}
