using System.Text.RegularExpressions;
using k8s.Models;

namespace Orleans.AiFleet.Grains.Tests.Deployment;

/// <summary>
/// PostgreSQL's superuser belongs to PostgreSQL and the schema job alone: the silos and client-api log in as roles of
/// their own, which the schema job creates, with passwords from Secrets of their own, and grants only what each runs.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    /// <summary>The superuser's Secret (POSTGRES_PASSWORD of the postgres image).</summary>
    private const string SuperuserSecret = "postgres";

    /// <summary>Each PostgreSQL client workload's role and the Secret (key <c>password</c>) holding its password.</summary>
    internal static readonly Dictionary<string, (string Role, string Secret)> PostgresRoles = new()
    {
        ["silo"] = ("aifleet_silo", "postgres-silo"),
        ["client-api"] = ("aifleet_client", "postgres-client-api"),
    };

    /// <summary>Every privilege the schema job grants, as "role privilege table"; nothing else may be granted.</summary>
    private static readonly string[] RoleGrants =
    [
        // Orleans ADO.NET clustering loads its query texts, then runs every membership query (db/001_membership.sql).
        "aifleet_silo SELECT orleansquery",
        "aifleet_silo SELECT aifleet_membership_version",
        "aifleet_silo INSERT aifleet_membership_version",
        "aifleet_silo UPDATE aifleet_membership_version",
        "aifleet_silo DELETE aifleet_membership_version",
        "aifleet_silo SELECT aifleet_membership",
        "aifleet_silo INSERT aifleet_membership",
        "aifleet_silo UPDATE aifleet_membership",
        "aifleet_silo DELETE aifleet_membership",
        // PostgresModelStore on a silo lists and fetches uploaded versions and deletes one that is removed or
        // refused; it never stores one (client-api does).
        "aifleet_silo SELECT aifleet_model_versions",
        "aifleet_silo DELETE aifleet_model_versions",
        // Gateway discovery loads the query texts, then runs GatewaysQueryKey, which reads aifleet_membership alone.
        "aifleet_client SELECT orleansquery",
        "aifleet_client SELECT aifleet_membership",
        // Uploads: PostgresModelStore.SaveAsync's upsert. Its ON CONFLICT (model, version) reads the key columns.
        "aifleet_client INSERT aifleet_model_versions",
        "aifleet_client UPDATE aifleet_model_versions",
        "aifleet_client SELECT(model,version) aifleet_model_versions",
    ];

    [Fact]
    public void SuperuserSecret_IsReadOnlyByPostgresAndTheSchemaJob()
    {
        var readers = Pods()
            .Where(p => AllContainers(p.Template.Spec).SelectMany(c => c.Env ?? []).Any(e => e.ValueFrom?.SecretKeyRef?.Name == SuperuserSecret))
            .Select(p => p.Name);

        Assert.Equal(["membership-schema", "postgres"], readers.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("silo")]
    [InlineData("client-api")]
    public void PostgresClients_LogInAsTheirOwnRole_WithItsPasswordFromItsOwnSecret(string workload)
    {
        var (role, secret) = PostgresRoles[workload];
        var env = Deployment(workload).Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);
        var postgres = Objects.Value.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "postgres").Spec.Template.Spec.Containers.Single()
            .Env.ToDictionary(e => e.Name);
        var port = Objects.Value.OfType<V1Service>().Single(s => s.Metadata.Name == "postgres").Spec.Ports.Single().Port;

        Assert.DoesNotContain(env.Values, e => e.ValueFrom?.SecretKeyRef?.Name == SuperuserSecret);
        Assert.Equal(
            new[] { "Host=postgres", $"Port={port}", $"Username={role}", "Password=$(POSTGRES_PASSWORD)", $"Database={postgres["POSTGRES_DB"].Value}" }
                .Order(StringComparer.Ordinal),
            env["AIFLEET__CLUSTER__POSTGRES"].Value.Split(';').Order(StringComparer.Ordinal));
        Assert.Equal((secret, "password"), (env["POSTGRES_PASSWORD"].ValueFrom.SecretKeyRef.Name, env["POSTGRES_PASSWORD"].ValueFrom.SecretKeyRef.Key));
        Assert.NotEqual(role, postgres["POSTGRES_USER"].Value);
    }

    [Fact]
    public void SchemaJob_CreatesEachRole_WithThePasswordFromItsSecret_AndNoPowerOverTheServer()
    {
        var (sql, job) = SchemaJobSql();
        var env = job.Env.ToDictionary(e => e.Name);

        foreach (var (role, secret) in PostgresRoles.Values)
        {
            Assert.Matches(new Regex($@"^SELECT 'CREATE ROLE {role}' WHERE NOT EXISTS \(SELECT 1 FROM pg_roles WHERE rolname = '{role}'\) \\gexec$", RegexOptions.Multiline), sql);
            var alter = new Regex($@"^ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'(\w+)';$", RegexOptions.Multiline).Match(sql);
            Assert.True(alter.Success, $"the schema job does not set {role}'s attributes and password");

            // psql's \getenv keeps the password out of the command line; the variable comes from the role's Secret.
            var getenv = new Regex($@"^\\getenv {alter.Groups[1].Value} (\w+)$", RegexOptions.Multiline).Match(sql);
            Assert.True(getenv.Success, $"the schema job reads {role}'s password from no environment variable");
            var password = env[getenv.Groups[1].Value].ValueFrom.SecretKeyRef;
            Assert.Equal((secret, "password", false), (password.Name, password.Key, password.Optional));
        }

        // psql's \getenv is 15 and later: the job's psql is the server's own.
        var server = Objects.Value.OfType<V1StatefulSet>().Single(s => s.Metadata.Name == "postgres").Spec.Template.Spec.Containers.Single();
        Assert.Equal(server.Image, job.Image);
        Assert.DoesNotMatch(new Regex(@"\b(SUPERUSER|CREATEDB|CREATEROLE|REPLICATION|BYPASSRLS)\b|ALL\s+PRIVILEGES|GRANT\s+ALL|WITH\s+(GRANT|ADMIN)\s+OPTION", RegexOptions.IgnoreCase), sql);
    }

    [Fact]
    public void SchemaJob_GrantsEachRoleOnlyWhatItsWorkloadRuns_AfterRevokingAllElse()
    {
        var (sql, _) = SchemaJobSql();
        var grants = Statements(sql, "GRANT").ToArray();
        var parsed = grants.Select(g => GrantStatement().Match(g)).ToArray();

        Assert.All(parsed.Zip(grants), p => Assert.True(p.First.Success, $"not a table grant to named roles: {p.Second}"));
        var granted = parsed.SelectMany(g =>
            from privilege in ListItems(g.Groups["privileges"].Value)
            from table in ListItems(g.Groups["tables"].Value)
            from role in ListItems(g.Groups["roles"].Value)
            select $"{role} {Regex.Replace(privilege, @"\s", "")} {table}".ToLowerInvariant());
        Assert.Equal(RoleGrants.Select(g => g.ToLowerInvariant()).Order(StringComparer.Ordinal), granted.Order(StringComparer.Ordinal));

        // A rerun replaces what an earlier version of the job granted: every grant follows a revoke of all that the
        // roles hold on the tables they are granted, in one transaction with it.
        var tables = RoleGrants.Select(g => g.Split(' ')[2]).Distinct();
        var revoke = Statements(sql, "REVOKE").Select(r => RevokeStatement().Match(r)).SingleOrDefault(r => r.Success);
        Assert.True(revoke is not null, "the schema job revokes nothing before granting");
        Assert.Equal(tables.Order(StringComparer.Ordinal), ListItems(revoke.Groups["tables"].Value).Select(t => t.ToLowerInvariant()).Order(StringComparer.Ordinal));
        Assert.Equal(PostgresRoles.Values.Select(r => r.Role).Order(StringComparer.Ordinal), ListItems(revoke.Groups["roles"].Value).Order(StringComparer.Ordinal));
        var begin = sql.IndexOf("\nBEGIN;", StringComparison.Ordinal);
        var commit = sql.IndexOf("\nCOMMIT;", StringComparison.Ordinal);
        Assert.True(begin >= 0 && begin < sql.IndexOf(revoke.Value, StringComparison.Ordinal) && grants.All(g => sql.IndexOf(g, StringComparison.Ordinal) < commit),
            "the revoke and the grants are not one transaction");
    }

    /// <summary>The SQL the schema job runs, its files in the order it runs them, without comments; and its container.</summary>
    private static (string Sql, V1Container Job) SchemaJobSql()
    {
        var (map, container) = SchemaJob();
        var sql = string.Join('\n', SchemaJobFiles().Select(f => map.Data[f]));
        return (Regex.Replace(sql, @"--[^\n]*", ""), container);
    }

    /// <summary>The schema job's ConfigMap (its files, mounted at /schema) and its container.</summary>
    private static (V1ConfigMap Map, V1Container Job) SchemaJob()
    {
        var job = Objects.Value.OfType<V1Job>().Single().Spec.Template.Spec;
        var map = Objects.Value.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == job.Volumes.Single(v => v.ConfigMap is not null).ConfigMap.Name);
        return (map, job.Containers.Single());
    }

    /// <summary>The files of the ConfigMap that the schema job's command runs, in order.</summary>
    private static string[] SchemaJobFiles()
    {
        var job = SchemaJob().Job;
        return Regex.Matches(string.Join('\n', job.Command.Concat(job.Args ?? [])), @"/schema/([\w.]+\.sql)").Select(m => m.Groups[1].Value).ToArray();
    }

    /// <summary>The statements of <paramref name="sql"/> that begin with <paramref name="keyword"/> at the start of a line.</summary>
    private static IEnumerable<string> Statements(string sql, string keyword) =>
        Regex.Matches(sql, $@"^{keyword}\b[^;]*;", RegexOptions.Multiline | RegexOptions.IgnoreCase).Select(m => m.Value);

    /// <summary>A comma-separated list's items, trimmed; commas inside parentheses (column lists) do not separate.</summary>
    private static IEnumerable<string> ListItems(string list) => Regex.Split(list, @",(?![^(]*\))").Select(i => i.Trim());

    [GeneratedRegex(@"^GRANT\s+(?<privileges>.+?)\s+ON\s+(TABLE\s+)?(?<tables>[\w\s,]+?)\s+TO\s+(?<roles>[\w\s,]+?)\s*;$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex GrantStatement();

    [GeneratedRegex(@"^REVOKE\s+ALL\s+ON\s+(TABLE\s+)?(?<tables>[\w\s,]+?)\s+FROM\s+(?<roles>[\w\s,]+?)\s*;$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex RevokeStatement();
}
