using System.Text.RegularExpressions;
using k8s.Models;

namespace Orleans.AiFleet.Grains.Tests.Deployment;

/// <summary>Credentials in k8s/: none in the files, every one from the operator's Secrets, and every client using them.</summary>
public sealed partial class KubernetesManifestTests
{
    /// <summary>The Secrets the operator creates before the first apply (kustomization.yaml), by name and key.</summary>
    private static readonly (string Secret, string Key)[] OperatorSecrets =
        [("client-api", "admin-key"), ("postgres", "password"), ("postgres-client-api", "password"), ("postgres-silo", "password"), ("redis", "password")];

    [Fact]
    public void Render_HoldsNoSecret_AndNoFileInK8sHoldsAPlaceholderCredential()
    {
        Assert.Empty(Objects.Value.OfType<V1Secret>());

        string[] placeholders = ["change-me", "changeme"];
        var offending = Directory.EnumerateFiles(Path.Combine(RepositoryRoot, "k8s"), "*", SearchOption.AllDirectories)
            .Where(file => placeholders.Any(p => File.ReadAllText(file).Contains(p, StringComparison.OrdinalIgnoreCase)))
            .Select(file => Path.GetRelativePath(RepositoryRoot, file));
        Assert.Empty(offending);
    }

    [Fact]
    public void EnvironmentVariablesHoldingCredentials_ComeFromSecrets_NeverFromLiterals()
    {
        var failures = new List<string>();
        foreach (var (name, template, _) in Pods())
        {
            foreach (var container in AllContainers(template.Spec))
            {
                foreach (var variable in container.Env ?? [])
                {
                    var at = $"{name}/{container.Name} {variable.Name}";
                    var credential = variable.Name.EndsWith("PASSWORD", StringComparison.Ordinal) || variable.Name.EndsWith("ADMINKEY", StringComparison.Ordinal);
                    if (credential && variable.ValueFrom?.SecretKeyRef is null)
                    {
                        failures.Add($"{at} is not read from a secret");
                    }

                    if (variable.Name is "REDISCLI_AUTH" && variable.Value != "$(REDIS_PASSWORD)")
                    {
                        failures.Add($"{at} is not $(REDIS_PASSWORD)");
                    }

                    // Passwords inside connection strings are the kubelet's $(VAR) substitutions of secret-backed variables.
                    foreach (Match password in ConnectionStringPassword().Matches(variable.Value ?? ""))
                    {
                        if (!PasswordReference().IsMatch(password.Groups[1].Value))
                        {
                            failures.Add($"{at} holds a literal password");
                        }
                    }
                }
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public void VariableReferences_NameVariablesDefinedEarlierInTheSameContainer()
    {
        // The kubelet passes a $(VAR) it cannot resolve on literally: a connection string would hold "$(VAR)".
        var failures = new List<string>();
        foreach (var (name, template, _) in Pods())
        {
            foreach (var container in AllContainers(template.Spec))
            {
                var defined = new HashSet<string>(StringComparer.Ordinal);
                foreach (var variable in container.Env ?? [])
                {
                    var undefined = VariableReference().Matches(variable.Value ?? "").Select(m => m.Groups[1].Value).Where(v => !defined.Contains(v));
                    failures.AddRange(undefined.Select(v => $"{name}/{container.Name} {variable.Name} uses $({v}) before it is defined"));
                    defined.Add(variable.Name);
                }

                var undefinedInArgs = (container.Args ?? []).SelectMany(a => VariableReference().Matches(a)).Select(m => m.Groups[1].Value).Where(v => !defined.Contains(v));
                failures.AddRange(undefinedInArgs.Select(v => $"{name}/{container.Name} args use $({v}), which its env does not define"));
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public void SecretReferences_NameTheOperatorsSecrets_AndKustomizationDocumentsHowToCreateThem()
    {
        var references = Pods().SelectMany(p => AllContainers(p.Template.Spec)).SelectMany(c => c.Env ?? [])
            .Select(e => e.ValueFrom?.SecretKeyRef).OfType<V1SecretKeySelector>().ToArray();

        Assert.All(references, r => Assert.True(r.Optional == false, $"secret reference {r.Name}/{r.Key} is not optional: false"));
        Assert.Equal(OperatorSecrets, references.Select(r => (Secret: r.Name, r.Key)).Distinct().Order());
        Assert.Empty(Objects.Value.OfType<V1Secret>());

        var kustomization = File.ReadAllText(Path.Combine(RepositoryRoot, "k8s", "kustomization.yaml"));
        foreach (var (secret, key) in OperatorSecrets)
        {
            Assert.Contains($"kubectl -n aifleet create secret generic {secret} --from-literal={key}=\"$(openssl rand -hex 32)\"", kustomization, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EveryClientApiPod_AcceptsTheSameAdminKey_FromASecret()
    {
        var env = Deployment("client-api").Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);

        Assert.Equal(("client-api", "admin-key"), (env["AIFLEET__AUTH__ADMINKEY"].ValueFrom.SecretKeyRef.Name, env["AIFLEET__AUTH__ADMINKEY"].ValueFrom.SecretKeyRef.Key));
        Assert.Null(env["AIFLEET__AUTH__ADMINKEY"].Value);
    }

    [Fact]
    public void Redis_RequiresThePassword_AndTheSilosConnectWithIt()
    {
        var redis = Objects.Value.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "redis").Spec.Template.Spec.Containers.Single();
        var redisEnv = redis.Env.ToDictionary(e => e.Name);
        var requirepass = redis.Args.IndexOf("--requirepass");
        Assert.True(requirepass >= 0, "redis-server is started without --requirepass");
        Assert.Equal("$(REDIS_PASSWORD)", redis.Args[requirepass + 1]);
        Assert.Equal(("redis", "password"), (redisEnv["REDIS_PASSWORD"].ValueFrom.SecretKeyRef.Name, redisEnv["REDIS_PASSWORD"].ValueFrom.SecretKeyRef.Key));
        Assert.Equal("$(REDIS_PASSWORD)", redisEnv["REDISCLI_AUTH"].Value);

        var service = Objects.Value.OfType<V1Service>().Single(s => s.Metadata.Name == "redis").Spec.Ports.Single();
        var silo = Deployment("silo").Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);
        Assert.Equal($"redis:{service.Port},password=$(REDIS_PASSWORD)", silo["AIFLEET__CLUSTER__REDIS"].Value);
        Assert.Equal(("redis", "password"), (silo["REDIS_PASSWORD"].ValueFrom.SecretKeyRef.Name, silo["REDIS_PASSWORD"].ValueFrom.SecretKeyRef.Key));
    }

    [Fact]
    public void SchemaJob_ConnectsAsTheSuperuser_ToTheDatabaseThePodsUse()
    {
        var postgres = Objects.Value.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "postgres").Spec.Template.Spec.Containers.Single()
            .Env.ToDictionary(e => e.Name);
        Assert.Equal((SuperuserSecret, "password"), (postgres["POSTGRES_PASSWORD"].ValueFrom.SecretKeyRef.Name, postgres["POSTGRES_PASSWORD"].ValueFrom.SecretKeyRef.Key));

        var job = Objects.Value.OfType<V1Job>().Single().Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);
        Assert.Equal(postgres["POSTGRES_USER"].Value, job["PGUSER"].Value);
        Assert.Equal(postgres["POSTGRES_DB"].Value, job["PGDATABASE"].Value);
        Assert.Equal((SuperuserSecret, "password"), (job["PGPASSWORD"].ValueFrom.SecretKeyRef.Name, job["PGPASSWORD"].ValueFrom.SecretKeyRef.Key));
    }

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VariableReference();

    [GeneratedRegex(@"password=([^;,]*)", RegexOptions.IgnoreCase)]
    private static partial Regex ConnectionStringPassword();

    [GeneratedRegex(@"^\$\([A-Z_]*PASSWORD\)$")]
    private static partial Regex PasswordReference();
}
