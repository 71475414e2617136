using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Tests.Deployment;

/// <summary>
/// k8s/postgres/roles.sql on a real PostgreSQL with db/ applied, as the schema job runs it (twice: it must be safe to
/// rerun): a silo logged in as the silo role and a client logged in as the client role form a cluster and serve,
/// client-api's upload path works as the client role, and each role is refused what its workload never does.
/// </summary>
public sealed class PostgresRolesTests(PostgresRolesTests.RolesFixture roles) : IClassFixture<PostgresRolesTests.RolesFixture>
{
    private const string InsufficientPrivilege = "42501";

    [Fact]
    public async Task SiloRoleAndClientRole_FormACluster_AndServe()
    {
        var clusterId = $"roles-{Guid.NewGuid():N}";
        using var silo = await TestHosts.StartClusterSiloAsync(roles.Silo, clusterId, TestHosts.FreePort(), TestHosts.FreePort());
        using var client = await TestHosts.StartClusterClientAsync(roles.Client, clusterId);

        var result = await client.Services.GetRequiredService<IClusterClient>().GetGrain<IInferenceRouterGrain>(0)
            .InferAsync(Samples.Digit("digits", 0, outputs: "logits"));

        Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(0)], "logits"), result.Outputs[0].Fp32!);
        await silo.StopAsync(); // leaving writes membership as the silo role too
    }

    [Fact]
    public async Task ClientRole_StoresAnUpload_AndIsRefusedReadingDeletingAndMembershipWrites()
    {
        var store = new PostgresModelStore(roles.Client);
        await using var upload = new Upload(roles.Superuser);

        await store.SaveAsync(upload.Version, upload.OnnxFile);
        await store.SaveAsync(upload.Version with { ConfigJson = "{}" }, upload.OnnxFile); // the upsert's update path

        await AssertRefusedAsync(() => store.ListAsync(upload.Version.Model));
        await AssertRefusedAsync(() => store.DeleteAsync(upload.Version.Model, upload.Version.Version));
        await AssertRefusedAsync(roles.Client,
            "SELECT onnx FROM aifleet_model_versions",
            "INSERT INTO aifleet_membership_version (deployment_id) VALUES ('intruder')",
            "DELETE FROM aifleet_membership",
            "UPDATE OrleansQuery SET QueryText = QueryText",
            "CREATE TABLE intruder (id int)");
    }

    [Fact]
    public async Task SiloRole_ReadsAndDeletesUploads_AndIsRefusedStoringThemAndChangingTheSchema()
    {
        var store = new PostgresModelStore(roles.Silo);
        await using var upload = new Upload(roles.Superuser);
        var version = upload.Version;
        await new PostgresModelStore(roles.Client).SaveAsync(version, upload.OnnxFile);

        Assert.Equal(version.Sha256, Assert.Single(await store.ListAsync(version.Model)).Sha256);
        Assert.Equal(version.Sha256, ModelFiles.Sha256Hex(await store.MaterializeAsync(version) ?? throw new FileNotFoundException(version.Sha256)));
        await store.DeleteAsync(version.Model, version.Version);
        Assert.Empty(await store.ListAsync(version.Model));

        await AssertRefusedAsync(() => store.SaveAsync(version, upload.OnnxFile));
        await AssertRefusedAsync(roles.Silo,
            "UPDATE OrleansQuery SET QueryText = QueryText",
            "CREATE TABLE intruder (id int)",
            "ALTER TABLE aifleet_membership ADD COLUMN intruder int",
            "CREATE ROLE intruder");
    }

    private static async Task AssertRefusedAsync(string connectionString, params string[] statements)
    {
        foreach (var sql in statements)
        {
            await AssertRefusedAsync(() => ExecuteAsync(connectionString, sql));
        }
    }

    private static async Task AssertRefusedAsync(Func<Task> action)
    {
        var refused = await Assert.ThrowsAsync<PostgresException>(action);
        Assert.Equal(InsufficientPrivilege, refused.SqlState);
    }

    private static async Task ExecuteAsync(string connectionString, string sql, string? model = null)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        if (model is not null)
        {
            command.Parameters.AddWithValue("m", model);
        }

        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// A version of a model of its own with a random ONNX file (the store does not parse it); disposing removes the
    /// file and, as the superuser, whatever the test left stored.
    /// </summary>
    private sealed class Upload : IAsyncDisposable
    {
        private const int Bytes = 256;
        private readonly string _superuser;

        public Upload(string superuser)
        {
            _superuser = superuser;
            OnnxFile = Path.Combine(Path.GetTempPath(), $"roles-{Guid.NewGuid():N}.onnx");
            File.WriteAllBytes(OnnxFile, RandomNumberGenerator.GetBytes(Bytes));
            Version = new StoredVersion($"roles-{Guid.NewGuid():N}", "1", ModelFiles.Sha256Hex(OnnxFile), Bytes, null, null, DateTimeOffset.UtcNow);
        }

        public string OnnxFile { get; }

        public StoredVersion Version { get; }

        public async ValueTask DisposeAsync()
        {
            File.Delete(OnnxFile);
            await ExecuteAsync(_superuser, "DELETE FROM aifleet_model_versions WHERE model = @m", Version.Model);
        }
    }

    /// <summary>The test PostgreSQL with k8s/postgres/roles.sql run on it twice, and a connection string per role.</summary>
    public sealed class RolesFixture : IAsyncLifetime
    {
        private readonly PostgresFixture _postgres = new();

        public string Superuser => _postgres.ConnectionString;

        public string Silo { get; private set; } = "";

        public string Client { get; private set; } = "";

        public async Task InitializeAsync()
        {
            await _postgres.InitializeAsync();
            var (silo, client) = (Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
            await RunRolesAsync(silo, client);
            await RunRolesAsync(silo, client);
            Silo = Login(KubernetesManifestTests.PostgresRoles["silo"].Role, silo);
            Client = Login(KubernetesManifestTests.PostgresRoles["client-api"].Role, client);
        }

        public Task DisposeAsync() => _postgres.DisposeAsync();

        private string Login(string role, string password) =>
            new NpgsqlConnectionStringBuilder(Superuser) { Username = role, Password = password }.ConnectionString;

        /// <summary>psql on roles.sql as the schema job runs it: the superuser, the passwords in the environment.</summary>
        private async Task RunRolesAsync(string siloPassword, string clientPassword)
        {
            var superuser = new NpgsqlConnectionStringBuilder(Superuser);
            var roles = Path.Combine(KubernetesManifestTests.RepositoryRoot, "k8s", "postgres", "roles.sql");
            var psql = new ProcessStartInfo("psql", ["-h", superuser.Host!, "-p", $"{superuser.Port}", "-U", superuser.Username!, "-d", superuser.Database!, "-q", "-v", "ON_ERROR_STOP=1", "-f", roles])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                Environment = { ["POSTGRES_SILO_PASSWORD"] = siloPassword, ["POSTGRES_CLIENT_API_PASSWORD"] = clientPassword },
            };
            using var process = Process.Start(psql) ?? throw new InvalidOperationException("psql did not start");
            var errors = process.StandardError.ReadToEndAsync();
            await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"psql -f k8s/postgres/roles.sql failed ({process.ExitCode}): {await errors}");
        }
    }
}
