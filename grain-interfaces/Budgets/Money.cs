namespace Orleans.AiFleet.GrainInterfaces.Budgets;

/// <summary>
/// Money is dollars in <see cref="decimal"/>, kept to the nano-dollar (10⁻⁹ $) and rounded up there, never to zero:
/// three tokens of a $0.0001-per-1k model cost $0.0000003, not $0.
/// </summary>
public static class Money
{
    /// <summary>The smallest amount charged: one nano-dollar.</summary>
    public const decimal Nano = 0.000000001m;

    /// <summary><paramref name="dollars"/> rounded up to the nano-dollar; a positive amount stays positive.</summary>
    public static decimal Ceiling(decimal dollars) => Math.Ceiling(dollars / Nano) * Nano;
}
