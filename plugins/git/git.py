#!/usr/bin/env python3
# git.py: the git plugin of tern (plugin.yaml): Kestra's git Clone and Push, run with the git binary.
import json
import os
import re
import subprocess
import sys
import tempfile

# git and ssh call this same program back for credentials (GIT_ASKPASS, SSH_ASKPASS): it answers from the
# files of the task's private directory, so no secret is on a command line or in an environment.
if os.environ.get("TERN_GIT_SECRETS") and len(sys.argv) > 1:
    prompt = sys.argv[1]
    name = "username" if prompt.startswith("Username") else "password" if prompt.startswith("Password") else "passphrase"
    try:
        with open(os.path.join(os.environ["TERN_GIT_SECRETS"], name)) as f:
            print(f.read())
    except OSError:
        print()
    sys.exit(0)


def send(message):
    print("::" + json.dumps(message) + "::", flush=True)


def log(level, message):
    send({"logs": [{"level": level, "message": message}]})


class Failure(Exception):
    pass


class Git:
    """git commands for one task: credentials in a private directory (mode 0700, removed at the end), every
    message of git's masked of the secrets before it is logged."""

    def __init__(self, props):
        self.secrets = [s for s in (props.get("password"), props.get("passphrase"), props.get("privateKey")) if s]
        # Not in the working directory: a following task (or "git add .") would see it.
        self.private = tempfile.mkdtemp(prefix="tern-git-", dir=os.environ.get("TMPDIR") or "/tmp")
        try:
            self.setup(props)
        except BaseException:
            self.close()
            raise

    def setup(self, props):
        self.env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
        # readTimeout: git aborts a transfer slower than 1 byte a second for that long (HTTP).
        seconds = lambda ms: str(max(1, -(-int(ms) // 1000)))
        self.options = ["-c", "http.lowSpeedLimit=1", "-c", "http.lowSpeedTime=" + seconds(props.get("readTimeout") or 60000)]
        if props.get("trustedCaPemPath"):
            self.options += ["-c", "http.sslCAInfo=" + props["trustedCaPemPath"]]
        if props.get("noProxy"):
            self.options += ["-c", "http.proxy="]
            for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
                self.env.pop(var, None)
        for var in ("GIT_ASKPASS", "SSH_ASKPASS", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_DIR", "GIT_WORK_TREE"):
            self.env.pop(var, None)
        # Git's global configuration is the task's own: safe.directory there (git reads it nowhere else, the
        # upload-pack of a file:// remote included) trusts the repositories of the task, its working directory's
        # and the one its url names (a file:// one belongs to whoever made it), all inside the sandbox.
        self.env["GIT_CONFIG_GLOBAL"] = self.write("gitconfig", "[safe]\n\tdirectory = *\n")
        me = os.path.abspath(__file__)
        if props.get("username") is not None or props.get("password") is not None or props.get("passphrase"):
            for name in ("username", "password", "passphrase"):
                if props.get(name) is not None:
                    self.write(name, str(props[name]))
            self.env.update(TERN_GIT_SECRETS=self.private, GIT_ASKPASS=me, SSH_ASKPASS=me, SSH_ASKPASS_REQUIRE="force")
        ssh = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=accept-new",
               "-o", "ConnectTimeout=" + seconds(props.get("connectTimeout") or 10000),
               "-o", "UserKnownHostsFile=" + os.path.join(self.private, "known_hosts")]
        if not props.get("passphrase"):
            ssh += ["-o", "BatchMode=yes"]  # never waits for a prompt nobody answers
        if props.get("privateKey"):
            key = props["privateKey"].strip() + "\n"  # OpenSSH refuses a key without its last newline
            ssh += ["-i", self.write("id", key), "-o", "IdentitiesOnly=yes"]
        self.env["GIT_SSH_COMMAND"] = " ".join(quote(a) for a in ssh)

    def write(self, name, text):
        path = os.path.join(self.private, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def close(self):
        for name in os.listdir(self.private):
            os.unlink(os.path.join(self.private, name))
        os.rmdir(self.private)

    def mask(self, text):
        for secret in self.secrets:
            text = text.replace(secret, "******")
        return re.sub(r"(://[^/@:\s]*):[^/@\s]*@", r"\1:******@", text)

    def run(self, what, args, cwd=None, stdin=None, check=True):
        """Runs git; a failure raises Failure with git's own message ('what' says what was being done)."""
        p = subprocess.run(["git", "-c", "init.defaultBranch=main",
                            "-c", "advice.detachedHead=false", *self.options, *args],
                           cwd=cwd, env=self.env, input=stdin, capture_output=True, text=True)
        if check and p.returncode != 0:
            lines = [l for l in self.mask(p.stderr + p.stdout).splitlines() if l.strip()]
            raise Failure("%s: %s" % (what, " ".join(lines[-6:]) or "git exited with status %d" % p.returncode))
        return p


def quote(arg):
    return "'" + arg.replace("'", "'\\''") + "'"


def inside(directory):
    """The task's working directory, or directory inside it (Kestra's 'directory' property)."""
    wd = os.getcwd()
    if not directory:
        return wd
    path = os.path.normpath(os.path.join(wd, directory))
    if os.path.commonpath([wd, path]) != wd:
        raise Failure("directory '%s' is outside the task's working directory" % directory)
    return path


def http_url(url):
    """The web address of a repository (https://host/org/repo) for its commit URL, or None (file:// URLs, paths)."""
    m = (re.fullmatch(r"ssh://(?:[^@/]*@)?([^:/]+)(?::\d+)?/(.+?)(?:\.git)?/?", url) or  # ssh://git@host:22/org/repo
         re.fullmatch(r"[^@/:]+@([^:/]+):(.+?)(?:\.git)?/?", url))  # git@host:org/repo.git
    if m:
        return "https://%s/%s" % m.groups()
    m = re.fullmatch(r"(https?)://(?:[^@/]*@)?([^/]+)/(.+?)(?:\.git)?/?", url)
    return "%s://%s/%s" % m.groups() if m else None


def remote_has_branch(git, url, branch):
    p = git.run("cannot list the branches of '%s'" % git.mask(url), ["ls-remote", "--heads", url, "refs/heads/" + branch])
    return bool(p.stdout.strip())


def configure(git, props, target):
    """Kestra's gitConfig: keys and values written to the repository's configuration."""
    for key, value in (props.get("gitConfig") or {}).items():
        if "." not in key:
            raise Failure("gitConfig key '%s' must be SECTION.NAME (core.fileMode)" % key)
        value = ("true" if value else "false") if isinstance(value, bool) else str(value)
        git.run("cannot set '%s' in the repository's configuration" % key, ["config", "--", key, value], cwd=target)


def clone(git, props):
    url, branch, commit, tag = props["url"], props.get("branch"), props.get("commit"), props.get("tag")
    target = inside(props.get("directory"))
    every = props.get("cloneAllBranches", True)
    if not every and not branch:
        raise Failure("cloneAllBranches is false: give the branch to clone")
    if tag and props.get("noTags"):
        raise Failure("tag cannot be used with noTags: true")
    depth = props.get("depth")
    depth = depth if not commit and not tag and depth and depth > 0 else None  # a commit or a tag needs the history
    if props.get("cache"):
        log("WARN", "cache is not supported by tern's git plugin yet: the repository is cloned in full")
    if os.path.exists(os.path.join(target, ".git")):
        update(git, props, target, depth)
    else:
        args = ["clone", "--quiet"]
        if tag and not commit:
            args += ["--branch", tag]
        elif branch and not commit:
            args += ["--branch", branch]
        if depth:
            args += ["--depth", str(depth)]
        args += ["--no-single-branch"] if every else ["--single-branch"]
        if props.get("noTags"):
            args += ["--no-tags"]
        if props.get("cloneSubmodules"):
            args += ["--recurse-submodules"] + (["--shallow-submodules"] if depth else [])
        os.makedirs(target, exist_ok=True)
        git.run("cannot clone '%s'%s" % (git.mask(url), " (branch '%s')" % branch if branch and not commit and not tag else ""),
                args + ["--", url, target])
        if commit:
            git.run("cannot check out commit '%s'" % commit, ["checkout", "--quiet", "--detach", commit], cwd=target)
        configure(git, props, target)
    head = git.run("cannot read HEAD", ["rev-parse", "HEAD"], cwd=target).stdout.strip()
    log("INFO", "Cloned %s into %s at %s" % (git.mask(url), target, head))
    send({"outputs": {"directory": target}})


def update(git, props, target, depth):
    """A directory that holds a repository already (a Clone before this one in a WorkingDirectory) is fetched
    and checked out again, its local changes dropped, as Kestra does."""
    url, branch, commit, tag = props["url"], props.get("branch"), props.get("commit"), props.get("tag")
    log("INFO", "Existing Git repository found at %s, fetching latest changes from %s" % (target, git.mask(url)))
    has_origin = git.run("", ["remote", "get-url", "origin"], cwd=target, check=False).returncode == 0
    git.run("cannot set the repository's origin", ["remote", "set-url" if has_origin else "add", "origin", url], cwd=target)
    configure(git, props, target)
    every = props.get("cloneAllBranches", True)
    refspecs = ["+refs/heads/%s:refs/remotes/origin/%s" % ((branch,) * 2) if branch and not every
                else "+refs/heads/*:refs/remotes/origin/*"]
    fetch = ["fetch", "--quiet", "--no-tags" if props.get("noTags") else "--tags"] + (["--depth", str(depth)] if depth else [])
    if (commit or tag) and os.path.exists(os.path.join(target, ".git", "shallow")):
        fetch += ["--unshallow"]
    git.run("cannot fetch '%s'" % git.mask(url), fetch + ["origin", *refspecs], cwd=target)
    if commit or tag:
        ref = commit or "refs/tags/" + tag
        git.run("cannot check out %s '%s'" % (("commit", commit) if commit else ("tag", tag)),
                ["checkout", "--quiet", "--force", "--detach", ref], cwd=target)
    else:
        if not branch:
            head = git.run("", ["symbolic-ref", "--short", "-q", "refs/remotes/origin/HEAD"], cwd=target, check=False)
            branch = head.stdout.strip().replace("origin/", "", 1)
            for default in ("main", "master"):
                if not branch and git.run("", ["rev-parse", "-q", "--verify", "refs/remotes/origin/" + default],
                                          cwd=target, check=False).returncode == 0:
                    branch = default
            if not branch:
                raise Failure("cannot tell the default branch of '%s': give branch" % git.mask(url))
        git.run("cannot check out branch '%s'" % branch,
                ["checkout", "--quiet", "--force", "-B", branch, "refs/remotes/origin/" + branch], cwd=target)
    if props.get("cloneSubmodules"):
        git.run("cannot update the submodules", ["submodule", "--quiet", "update", "--init", "--recursive"], cwd=target)


def push(git, props):
    url, branch = props.get("url"), props["branch"]
    target = inside(props.get("directory"))
    create = props.get("createBranch", True)
    if url and not os.path.exists(os.path.join(target, ".git")):
        exists = remote_has_branch(git, url, branch)
        if not exists and not create:
            raise Failure("branch '%s' does not exist in '%s' (createBranch is false)" % (branch, git.mask(url)))
        if not exists:
            log("INFO", "Branch %s does not exist, creating it" % branch)
        # Cloned without a checkout and with an empty index, the commit holds the files added below and no other,
        # as Kestra's Push removes the files the branch tracked before it adds its own.
        os.makedirs(target, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=".tern-git-clone-", dir=target)
        try:
            git.run("cannot clone '%s'" % git.mask(url),
                    ["clone", "--quiet", "--no-checkout", "--depth", "1"] + (["--branch", branch] if exists else []) +
                    ["--", url, scratch])
            os.rename(os.path.join(scratch, ".git"), os.path.join(target, ".git"))
            if not exists:  # the new branch starts at the default one's head (none in an empty repository)
                if git.run("", ["rev-parse", "-q", "--verify", "HEAD"], cwd=target, check=False).returncode == 0:
                    git.run("cannot create branch '%s'" % branch, ["branch", "--no-track", "--", branch], cwd=target)
                git.run("cannot create branch '%s'" % branch, ["symbolic-ref", "HEAD", "refs/heads/" + branch], cwd=target)
            git.run("cannot empty the index", ["read-tree", "--empty"], cwd=target)
        finally:
            for root, dirs, files in os.walk(scratch, topdown=False):
                for f in files:
                    os.unlink(os.path.join(root, f))
                for d in dirs:
                    os.rmdir(os.path.join(root, d))
            os.rmdir(scratch)
    elif git.run("", ["rev-parse", "--git-dir"], cwd=target, check=False).returncode != 0:
        raise Failure("'%s' is not a git repository: clone it first (io.kestra.plugin.git.Clone) or give url" % target)
    configure(git, props, target)
    remote = url or "origin"
    shown = url or git.run("", ["remote", "get-url", "origin"], cwd=target, check=False).stdout.strip() or "origin"

    current = git.run("", ["symbolic-ref", "--short", "-q", "HEAD"], cwd=target, check=False).stdout.strip()
    if current != branch:
        local = git.run("", ["rev-parse", "--verify", "-q", "refs/heads/" + branch], cwd=target, check=False)
        if local.returncode == 0:
            git.run("cannot check out branch '%s'" % branch, ["checkout", "--quiet", branch], cwd=target)
        else:
            if not create and not remote_has_branch(git, remote, branch):
                raise Failure("branch '%s' does not exist in '%s' (createBranch is false)" % (branch, git.mask(shown)))
            git.run("cannot create branch '%s'" % branch, ["checkout", "--quiet", "-b", branch], cwd=target)

    patterns = props.get("addFilesPattern") or ["."]
    git.run("cannot add %s" % ", ".join("'%s'" % p for p in patterns), ["add", "--", *patterns], cwd=target)
    staged = git.run("cannot list the changes", ["diff", "--cached", "--name-status"], cwd=target).stdout.splitlines()
    where = http_url(shown)
    if props.get("dryRun"):
        log("INFO", "Dry run: nothing is committed nor pushed to %s (branch %s) until dryRun is false" % (git.mask(shown), branch))
        for change in staged:
            log("INFO", "Would commit: %s" % change.replace("\t", " "))
        return
    if not staged:
        log("INFO", "No changes to commit. Skipping push.")
        return

    author = props.get("author") or {}
    name = author.get("name") or props.get("username") or "tern"
    email = author.get("email") or "tern@localhost"
    git.env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
    git.run("cannot commit", ["commit", "--quiet", "--no-verify", "-F", "-"], cwd=target, stdin=props["commitMessage"])
    commit_id = git.run("cannot read the commit", ["rev-parse", "HEAD"], cwd=target).stdout.strip()
    log("INFO", "Pushing to %s on branch %s" % (git.mask(shown), branch))
    git.run("cannot push to '%s' (branch '%s')" % (git.mask(shown), branch),
            ["push", "--quiet", remote, "HEAD:refs/heads/" + branch], cwd=target)
    outputs = {"commitId": commit_id}
    if where:
        outputs["commitURL"] = "%s/%s/%s" % (where, "commits" if "bitbucket.org" in where else "commit", commit_id)
    log("INFO", "Pushed commit %s" % commit_id)
    send({"outputs": outputs})


def main():
    props = json.load(sys.stdin)
    kind = os.environ.get("TERN_TASK_TYPE", "").rsplit(".", 1)[-1]
    git = None
    try:
        git = Git(props)
        {"Clone": clone, "Push": push}[kind](git, props)
    except Failure as e:
        log("ERROR", str(e))
        return 1
    finally:
        if git:
            git.close()
    return 0


sys.exit(main())
