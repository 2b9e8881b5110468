// SPDX-License-Identifier: Apache-2.0
/*
 * ambit-cni's install (userspace/control/cniconf.c, cniinstall.c): the node's conflist and the
 * CNI bin directory in a temporary directory, as install-cni keeps them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "control/cniconf.h"

static char root[64], conf_dir[128], bin_dir[128], plugin[128];

static const char entry[] = "{\"type\":\"ambit-cni\",\"agentSocket\":\"/run/ambit/agent.sock\"}";
static const char bridge[] =
    "{\"cniVersion\":\"1.0.0\",\"name\":\"podnet\",\"plugins\":[{\"type\":\"bridge\","
    "\"bridge\":\"cni0\",\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.22.0.0/16\"}},"
    "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}";

static void put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static cJSON *load(const char *name)
{
	char path[256], buf[8192];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", conf_dir, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return cJSON_Parse(buf);
}

static bool exists(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* The plugin types of conflist @name, in order, joined by ","; "" when the file is not there. */
static const char *types(const char *name)
{
	static char out[512];
	cJSON *o = load(name);
	const cJSON *it;

	out[0] = '\0';
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "plugins"))
	{
		if (out[0])
			strcat(out, ",");
		strcat(out, cJSON_GetObjectItem(it, "type")->valuestring);
	}
	cJSON_Delete(o);
	return out;
}

/* No temporary file left behind by a write. */
static void assert_no_temp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".ambit-cni."));
	closedir(d);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/ambit-test-cniconf-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(conf_dir, sizeof(conf_dir), "%s/net.d", root);
	snprintf(bin_dir, sizeof(bin_dir), "%s/bin", root);
	snprintf(plugin, sizeof(plugin), "%s/ambit-cni.src", root);
	if (mkdir(conf_dir, 0755) || mkdir(bin_dir, 0755))
		return -1;
	put(root, "ambit-cni.src", "#!/bin/sh\necho plugin v1\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd);
}

static void test_conflist_appended_once(void **state)
{
	bool changed;
	cJSON *o, *want = cJSON_Parse(entry);

	put(conf_dir, "10-podnet.conflist", bridge);
	assert_int_equal(cniconf_insert(conf_dir, entry, &changed), 0);
	assert_true(changed);
	assert_string_equal(types("10-podnet.conflist"), "bridge,portmap,ambit-cni");
	o = load("10-podnet.conflist");
	assert_true(
	    cJSON_Compare(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "plugins"), 2), want, true));
	assert_string_equal(cJSON_GetObjectItem(o, "name")->valuestring, "podnet");
	cJSON_Delete(o);
	/* Already there: nothing written (a watcher must not loop on its own write). */
	assert_int_equal(cniconf_insert(conf_dir, entry, &changed), 0);
	assert_false(changed);
	assert_string_equal(types("10-podnet.conflist"), "bridge,portmap,ambit-cni");
	assert_no_temp(conf_dir);
	cJSON_Delete(want);
}

static void test_conf_becomes_conflist(void **state)
{
	bool changed;
	cJSON *o;

	put(conf_dir, "10-ptp.conf",
	    "{\"cniVersion\":\"0.4.0\",\"name\":\"ptpnet\",\"type\":\"ptp\","
	    "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.23.0.0/16\"}}");
	assert_int_equal(cniconf_insert(conf_dir, entry, &changed), 0);
	assert_true(changed);
	assert_false(exists(conf_dir, "10-ptp.conf"));
	assert_string_equal(types("10-ptp.conflist"), "ptp,ambit-cni");
	o = load("10-ptp.conflist");
	assert_string_equal(cJSON_GetObjectItem(o, "cniVersion")->valuestring, "0.4.0");
	assert_string_equal(cJSON_GetObjectItem(o, "name")->valuestring, "ptpnet");
	/* The plugin keeps its own fields, not the list's. */
	assert_null(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "plugins"), 0), "name"));
	assert_non_null(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "plugins"), 0), "ipam"));
	cJSON_Delete(o);
	assert_no_temp(conf_dir);
}

/* The runtime's file is the first by name that is a CNI configuration; the others untouched. */
static void test_primary_is_first_valid(void **state)
{
	char path[256];
	bool changed;

	assert_int_equal(cniconf_insert(conf_dir, entry, &changed), -ENOENT);
	put(conf_dir, "05-broken.conflist", "{not json");
	put(conf_dir, "07-notes.txt", bridge);
	put(conf_dir, "20-other.conflist", bridge);
	put(conf_dir, "10-podnet.conflist", bridge);
	assert_int_equal(cniconf_primary(conf_dir, path, sizeof(path)), 0);
	assert_non_null(strstr(path, "/10-podnet.conflist"));
	assert_int_equal(cniconf_insert(conf_dir, entry, &changed), 0);
	assert_string_equal(types("10-podnet.conflist"), "bridge,portmap,ambit-cni");
	assert_string_equal(types("20-other.conflist"), "bridge,portmap");
}

/* An entry that differs (another socket) is replaced where it stands. */
static void test_entry_replaced_in_place(void **state)
{
	bool changed;
	cJSON *o;

	put(conf_dir, "10-podnet.conflist",
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"podnet\",\"plugins\":[{\"type\":\"bridge\"},"
	    "{\"type\":\"ambit-cni\",\"agentSocket\":\"/old.sock\"},{\"type\":\"bandwidth\"}]}");
	assert_int_equal(cniconf_insert(conf_dir, entry, &changed), 0);
	assert_true(changed);
	assert_string_equal(types("10-podnet.conflist"), "bridge,ambit-cni,bandwidth");
	o = load("10-podnet.conflist");
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "plugins"), 1),
				"agentSocket")
		->valuestring,
	    "/run/ambit/agent.sock");
	cJSON_Delete(o);
}

static void test_bad_entry(void **state)
{
	bool changed;

	put(conf_dir, "10-podnet.conflist", bridge);
	assert_int_equal(cniconf_insert(conf_dir, "{\"type\":\"bridge\"}", &changed), -EINVAL);
	assert_int_equal(cniconf_insert(conf_dir, "nope", &changed), -EINVAL);
	assert_string_equal(types("10-podnet.conflist"), "bridge,portmap");
}

static void test_remove(void **state)
{
	bool changed;

	put(conf_dir, "10-podnet.conflist", bridge);
	put(conf_dir, "20-other.conflist",
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"o\",\"plugins\":[{\"type\":\"ambit-cni\"},"
	    "{\"type\":\"ptp\"},{\"type\":\"ambit-cni\"}]}");
	assert_int_equal(cniconf_insert(conf_dir, entry, &changed), 0);
	assert_int_equal(cniconf_remove(conf_dir, &changed), 0);
	assert_true(changed);
	assert_string_equal(types("10-podnet.conflist"), "bridge,portmap");
	assert_string_equal(types("20-other.conflist"), "ptp");
	assert_int_equal(cniconf_remove(conf_dir, &changed), 0);
	assert_false(changed);
	assert_no_temp(conf_dir);
}

static void test_binary(void **state)
{
	struct stat st;
	char path[256];
	bool changed;

	assert_int_equal(cniconf_install_binary(plugin, bin_dir, &changed), 0);
	assert_true(changed);
	snprintf(path, sizeof(path), "%s/ambit-cni", bin_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_int_equal(cniconf_install_binary(plugin, bin_dir, &changed), 0);
	assert_false(changed);
	put(root, "ambit-cni.src", "#!/bin/sh\necho plugin v2\n");
	assert_int_equal(cniconf_install_binary(plugin, bin_dir, &changed), 0);
	assert_true(changed);
	assert_no_temp(bin_dir);
	assert_int_equal(cniconf_remove_binary(bin_dir), 0);
	assert_false(exists(bin_dir, "ambit-cni"));
	assert_int_equal(cniconf_remove_binary(bin_dir), 0);
	assert_int_equal(cniconf_install_binary("/nonexistent", bin_dir, &changed), -ENOENT);
}

/* Polls @cond for up to 20 s (a bound for a loaded machine, not a timing assertion). */
static bool eventually(bool (*cond)(void))
{
	for (int i = 0; i < 2000; i++) {
		if (cond())
			return true;
		usleep(10000);
	}
	return false;
}

static bool chained(void)
{
	return !strcmp(types("10-podnet.conflist"), "bridge,portmap,ambit-cni") &&
	       exists(bin_dir, "ambit-cni");
}

static bool chained_ptp(void)
{
	return !strcmp(types("05-ptp.conflist"), "ptp,ambit-cni") &&
	       !exists(conf_dir, "05-ptp.conf");
}

static pid_t start_installer(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = {"--install-cni",
				"--cni-conf-dir",
				conf_dir,
				"--cni-bin-dir",
				bin_dir,
				"--plugin",
				plugin,
				"--agent-socket",
				"/run/ambit/agent.sock",
				NULL};

		_exit(cniinstall_main(9, argv));
	}
	return pid;
}

/*
 * The mode: waits for the node's configuration, chains itself, puts the entry back when another
 * writer rewrites the file (renamed over it, as most do) or a .conf appears first, the binary
 * when it is deleted, and takes both out at a clean stop (no --owner-daemonset).
 */
static void test_install_mode(void **state)
{
	char path[256], dst[256];
	pid_t pid;
	int status;

	pid = start_installer();
	put(conf_dir, "10-podnet.conflist", bridge);
	assert_true(eventually(chained));
	/* Another writer: the whole file again, without ambit-cni, renamed into place. */
	put(conf_dir, ".writer.tmp", bridge);
	snprintf(path, sizeof(path), "%s/.writer.tmp", conf_dir);
	snprintf(dst, sizeof(dst), "%s/10-podnet.conflist", conf_dir);
	assert_int_equal(rename(path, dst), 0);
	assert_true(eventually(chained));
	/* Written in place, too. */
	put(conf_dir, "10-podnet.conflist", bridge);
	assert_true(eventually(chained));
	snprintf(path, sizeof(path), "%s/ambit-cni", bin_dir);
	assert_int_equal(unlink(path), 0);
	assert_true(eventually(chained));
	/* A plugin installed first by name: the runtime reads it now, so it is chained too. */
	put(conf_dir, "05-ptp.conf",
	    "{\"cniVersion\":\"1.0.0\",\"name\":\"ptpnet\",\"type\":\"ptp\"}");
	assert_true(eventually(chained_ptp));
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(types("10-podnet.conflist"), "bridge,portmap");
	assert_string_equal(types("05-ptp.conflist"), "ptp");
	assert_false(exists(bin_dir, "ambit-cni"));
	assert_no_temp(conf_dir);
	assert_no_temp(bin_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_conflist_appended_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conf_becomes_conflist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_primary_is_first_valid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_entry_replaced_in_place, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_install_mode, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
