"""Network: a VPC for an EKS cluster, private and public subnets over two or more availability zones.

Usage::

    from shardstack.aws.network import Network

    network = Network("net", {"cluster_name": "llm"})          # 10.0.0.0/16 over 3 zones
    network = Network("net", {"cluster_name": "llm", "nat_gateways": "single"})   # cheaper dev VPC
    network = Network("net", {                                 # a VPC someone else manages
        "cluster_name": "llm",
        "existing": {
            "vpc_id": "vpc-0123456789abcdef0",
            "private_subnet_ids": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"],
            "public_subnet_ids": ["subnet-0cccccccccccccccc"],
        },
    })

Nodes and pods live in the private subnets: no public IPs, egress through NAT gateways in the public
subnets, which hold only load balancers and the NATs. Subnets carry the tags EKS and the AWS Load
Balancer Controller look for (``kubernetes.io/role/internal-elb``, ``kubernetes.io/role/elb``,
``kubernetes.io/cluster/<cluster_name>``). VPC endpoints for S3, ECR, STS and EKS Pod Identity keep
weight downloads and image pulls off the NAT gateways, where every gigabyte is billed.
"""

# No `from __future__ import annotations` here: Pulumi's ComponentProvider reads the args and
# output annotations at run time to infer the package schema, and cannot resolve strings.

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws

from shardstack.aws.args import ExistingNetwork, NetworkArgs
from shardstack.aws.flow_logs import vpc_flow_logs
from shardstack.aws.specs import (
    CREATION_ARGS,
    DEFAULT_CIDR_BLOCK,
    DEFAULT_NAT_GATEWAYS,
    DEFAULT_ZONE_COUNT,
    MAX_VPC_PREFIX,
    MIN_VPC_PREFIX,
    MIN_ZONES,
    NAT_GATEWAY_MODES,
    NAT_ONE_PER_ZONE,
    NAT_SINGLE,
    NETWORK,
    NETWORK_RESERVED_TAG_KEYS,
    PRIVATE_SUBNET_EXTRA_BITS,
    PUBLIC_SUBNET_EXTRA_BITS,
    SMALLEST_SUBNET_PREFIX,
    max_zones,
    subnet_prefixes,
)
from shardstack.errors import ArgumentError
from shardstack.specs.problem import as_arguments

TYPE_TOKEN = "shardstack:aws:Network"

__all__ = [
    "CREATION_ARGS",
    "DEFAULT_CIDR_BLOCK",
    "DEFAULT_NAT_GATEWAYS",
    "DEFAULT_ZONE_COUNT",
    "MAX_VPC_PREFIX",
    "MIN_VPC_PREFIX",
    "MIN_ZONES",
    "NAT_GATEWAY_MODES",
    "NAT_ONE_PER_ZONE",
    "NAT_SINGLE",
    "PRIVATE_SUBNET_EXTRA_BITS",
    "PUBLIC_SUBNET_EXTRA_BITS",
    "RESERVED_TAG_KEYS",
    "SMALLEST_SUBNET_PREFIX",
    "ExistingNetwork",
    "Network",
    "NetworkArgs",
    "carve_subnets",
    "max_zones",
    "validate_network_args",
]

GATEWAY_ENDPOINT_SERVICE = "s3"
INTERFACE_ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr", "sts", "eks-auth")
"""ECR's API and registry (image pulls; the layers themselves come from S3), STS (IRSA token
exchange) and eks-auth (EKS Pod Identity credentials)."""
HTTPS_PORT = 443

EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")
"""Zone IDs the EKS user guide lists as unable to host a cluster's control plane network interfaces."""

RESERVED_TAG_KEYS = NETWORK_RESERVED_TAG_KEYS


def carve_subnets(cidr_block: str, zones: int) -> tuple[list[str], list[str]]:
    """Return the (private, public) subnet CIDR blocks of ``zones`` zones in a VPC of ``cidr_block``.

    Private subnets hold nodes and every pod (the VPC CNI gives each pod a VPC address), so they
    are large: 1/8 of the VPC each, counted up from the start of the range (a /16 gives
    10.0.0.0/19, 10.0.32.0/19, ...). Public subnets hold only load balancers and NAT gateways, so
    they are small: 1/64 of the VPC each (at least the /28 AWS requires), counted down from the
    end of the range (10.0.252.0/22, 10.0.248.0/22, ...). Zone i always gets the same two blocks
    whatever the number of zones, so adding a zone later does not move (replace) existing subnets,
    and the space between the two ends stays free for later use.

    Raises ValueError when the zones do not fit (see :func:`max_zones`).
    """
    vpc = ipaddress.IPv4Network(cidr_block)
    if zones > max_zones(vpc.prefixlen):
        raise ValueError(f"{zones} zones do not fit in {cidr_block}; at most {max_zones(vpc.prefixlen)} do")
    private_prefix, public_prefix = subnet_prefixes(vpc.prefixlen)
    private_size = 2 ** (32 - private_prefix)
    public_size = 2 ** (32 - public_prefix)
    start = int(vpc.network_address)
    end = int(vpc.broadcast_address) + 1
    private = [ipaddress.IPv4Network((start + i * private_size, private_prefix)) for i in range(zones)]
    public = [ipaddress.IPv4Network((end - (i + 1) * public_size, public_prefix)) for i in range(zones)]
    return [str(n) for n in private], [str(n) for n in public]


def validate_network_args(args: Mapping[str, Any], name: str | None = None) -> list[str]:
    """Return every problem with Network arguments (and its name, when given), one line each."""
    problems = as_arguments(NETWORK.check(args))
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(f"name={name!r} must be a non-empty string: child resources are named after it")
    return problems


class _Tags(Protocol):
    """Returns the tags of one of the network's resources: the user's, ``extra``, a Name and the component's."""

    def __call__(self, resource: str, extra: Mapping[str, str] | None = None) -> dict[str, str]: ...


class Network(pulumi.ComponentResource):
    """Creates a VPC with private and public subnets, NAT gateways and VPC endpoints for an EKS cluster."""

    vpc_id: pulumi.Output[str]
    """ID of the VPC."""
    private_subnet_ids: pulumi.Output[list[str]]
    """IDs of the private subnets (nodes and pods), one per zone in zone order."""
    public_subnet_ids: pulumi.Output[list[str]]
    """IDs of the public subnets (internet-facing load balancers, NAT gateways), one per zone."""
    availability_zones: pulumi.Output[list[str]]
    """Names of the availability zones the subnets are in (with ``existing``: those of the private
    subnets)."""
    cidr_block: pulumi.Output[str]
    """IPv4 range of the VPC."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = validate_network_args(args, name=name)
        if problems:
            raise ArgumentError(f"Network {name!r}", problems)
        super().__init__(TYPE_TOKEN, name, {}, opts)
        if "existing" in args:
            self._use_existing(args["existing"])
        else:
            self._create(name, args)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
                "availability_zones": self.availability_zones,
                "cidr_block": self.cidr_block,
            }
        )

    def _use_existing(self, existing: ExistingNetwork) -> None:
        # Read-only lookups, so that cidr_block and availability_zones hold the real values.
        lookup = pulumi.InvokeOutputOptions(parent=self)
        self.vpc_id = pulumi.Output.from_input(existing["vpc_id"])
        self.private_subnet_ids = pulumi.Output.all(*existing["private_subnet_ids"]).apply(list)
        self.public_subnet_ids = pulumi.Output.all(*existing["public_subnet_ids"]).apply(list)
        self.cidr_block = aws.ec2.get_vpc_output(id=self.vpc_id, opts=lookup).cidr_block
        zones = [
            aws.ec2.get_subnet_output(id=subnet_id, opts=lookup).availability_zone
            for subnet_id in existing["private_subnet_ids"]
        ]
        self.availability_zones = pulumi.Output.all(*zones).apply(lambda z: list(dict.fromkeys(z)))

    def _create(self, name: str, args: NetworkArgs) -> None:
        cidr_block = str(ipaddress.IPv4Network(args.get("cidr_block", DEFAULT_CIDR_BLOCK)))
        user_tags = dict(args.get("tags", {}))

        def tags(resource: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
            return {**user_tags, **(extra or {}), "Name": f"{name}-{resource}", "shardstack:component": name}

        zone_names = self._zone_names(args)
        if "availability_zones" in args:
            zone_count = len(args["availability_zones"])
        else:
            zone_count = args.get("zone_count", DEFAULT_ZONE_COUNT)

        vpc = self._vpc(name, cidr_block, tags)
        private_subnets, public_subnets = self._subnets(
            name, vpc, args["cluster_name"], carve_subnets(cidr_block, zone_count), zone_names, tags
        )
        internet_gateway = self._public_routes(name, vpc, public_subnets, tags)
        nat_count = zone_count if args.get("nat_gateways", DEFAULT_NAT_GATEWAYS) == NAT_ONE_PER_ZONE else 1
        nat_gateways = self._nat_gateways(name, nat_count, public_subnets, internet_gateway, tags)
        private_route_tables = self._private_routes(name, vpc, private_subnets, nat_gateways, tags)

        if args.get("vpc_endpoints", True):
            self._endpoints(name, vpc, cidr_block, private_subnets, private_route_tables, tags)
        if args.get("flow_logs", False):
            vpc_flow_logs(name, vpc, tags, parent=self)

        self.vpc_id = vpc.id
        self.cidr_block = vpc.cidr_block
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets]).apply(list)
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets]).apply(list)
        self.availability_zones = zone_names

    def _vpc(self, name: str, cidr_block: str, tags: Callable[[str], dict[str, str]]) -> aws.ec2.Vpc:
        """Create the VPC, with DNS on and its default security group emptied."""
        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cidr_block,
            # EKS needs both: nodes register by their private DNS names, and the private API
            # endpoint and interface VPC endpoints resolve through the VPC's DNS.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags("vpc"),
            opts=child,
        )
        # Adopting the default security group with no rules empties it, so nothing that lands in
        # it by default (an ENI created without a group) can talk to anything (CIS AWS 5.4).
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, tags=tags("default-sg"), opts=child)
        return vpc

    def _subnets(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        cluster_name: str,
        cidrs: tuple[list[str], list[str]],
        zone_names: pulumi.Output[list[str]],
        tags: _Tags,
    ) -> tuple[list[aws.ec2.Subnet], list[aws.ec2.Subnet]]:
        """Create a private and a public subnet in each zone, tagged for EKS's load balancers; return both lists."""
        child = pulumi.ResourceOptions(parent=self)
        private_cidrs, public_cidrs = cidrs
        cluster_tag = {f"kubernetes.io/cluster/{cluster_name}": "shared"}
        private_subnets: list[aws.ec2.Subnet] = []
        public_subnets: list[aws.ec2.Subnet] = []
        for i in range(len(private_cidrs)):
            zone = zone_names.apply(lambda names, i=i: names[i])
            private_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-private-{i}",
                    vpc_id=vpc.id,
                    cidr_block=private_cidrs[i],
                    availability_zone=zone,
                    map_public_ip_on_launch=False,
                    # Internal load balancers go here.
                    tags=tags(f"private-{i}", {**cluster_tag, "kubernetes.io/role/internal-elb": "1"}),
                    opts=child,
                )
            )
            public_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-public-{i}",
                    vpc_id=vpc.id,
                    cidr_block=public_cidrs[i],
                    availability_zone=zone,
                    # Only load balancers and NAT gateways live here, and they bring their own
                    # addresses: nothing launched here gets a public IP by accident.
                    map_public_ip_on_launch=False,
                    tags=tags(f"public-{i}", {**cluster_tag, "kubernetes.io/role/elb": "1"}),
                    opts=child,
                )
            )
        return private_subnets, public_subnets

    def _public_routes(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        public_subnets: list[aws.ec2.Subnet],
        tags: Callable[[str], dict[str, str]],
    ) -> aws.ec2.InternetGateway:
        """Create the internet gateway and the public subnets' route table to it; return the gateway."""
        child = pulumi.ResourceOptions(parent=self)
        internet_gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)
        public_routes = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, tags=tags("public-rt"), opts=child)
        aws.ec2.Route(
            f"{name}-public-internet",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=internet_gateway.id,
            opts=child,
        )
        for i, subnet in enumerate(public_subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}-rta", subnet_id=subnet.id, route_table_id=public_routes.id, opts=child
            )
        return internet_gateway

    def _nat_gateways(
        self,
        name: str,
        nat_count: int,
        public_subnets: list[aws.ec2.Subnet],
        internet_gateway: aws.ec2.InternetGateway,
        tags: Callable[[str], dict[str, str]],
    ) -> list[aws.ec2.NatGateway]:
        """Create ``nat_count`` NAT gateways, each with its Elastic IP, in the first public subnets."""
        # A NAT gateway needs the internet gateway attached before it can route.
        after_igw = pulumi.ResourceOptions(parent=self, depends_on=[internet_gateway])
        nat_gateways: list[aws.ec2.NatGateway] = []
        for i in range(nat_count):
            address = aws.ec2.Eip(f"{name}-nat-{i}-eip", domain="vpc", tags=tags(f"nat-{i}"), opts=after_igw)
            nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=address.id,
                    subnet_id=public_subnets[i].id,
                    connectivity_type="public",
                    tags=tags(f"nat-{i}"),
                    opts=after_igw,
                )
            )
        return nat_gateways

    def _private_routes(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        private_subnets: list[aws.ec2.Subnet],
        nat_gateways: list[aws.ec2.NatGateway],
        tags: Callable[[str], dict[str, str]],
    ) -> list[aws.ec2.RouteTable]:
        """Create a route table per private subnet with its default route through a NAT gateway; return them."""
        child = pulumi.ResourceOptions(parent=self)
        # One route table per zone even with a single NAT gateway: switching to one_per_zone later
        # changes a route, not the subnets' associations.
        private_route_tables: list[aws.ec2.RouteTable] = []
        for i, subnet in enumerate(private_subnets):
            routes = aws.ec2.RouteTable(
                f"{name}-private-{i}-rt", vpc_id=vpc.id, tags=tags(f"private-{i}-rt"), opts=child
            )
            private_route_tables.append(routes)
            aws.ec2.Route(
                f"{name}-private-{i}-egress",
                route_table_id=routes.id,
                destination_cidr_block="0.0.0.0/0",
                # The zone's own NAT gateway, so that a zone outage only cuts that zone's egress.
                nat_gateway_id=nat_gateways[i % len(nat_gateways)].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}-rta", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )
        return private_route_tables

    def _zone_names(self, args: NetworkArgs) -> pulumi.Output[list[str]]:
        """Return the zone names: the ones given, or the first ``zone_count`` the region offers."""
        if "availability_zones" in args:
            return pulumi.Output.from_input(list(args["availability_zones"]))
        count = args.get("zone_count", DEFAULT_ZONE_COUNT)
        available = aws.get_availability_zones_output(
            state="available",
            # Regular zones only: Local and Wavelength Zones need an opt-in and cannot hold the
            # network interfaces of an EKS control plane.
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),
            opts=pulumi.InvokeOutputOptions(parent=self),
        )

        def first(names: list[str]) -> list[str]:
            if len(names) < count:
                raise ValueError(
                    f"zone_count={count} but the region offers {len(names)} zones EKS can use "
                    f"({', '.join(names)}); lower zone_count"
                )
            return list(names[:count])

        return available.names.apply(first)

    def _endpoints(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        cidr_block: str,
        private_subnets: list[aws.ec2.Subnet],
        private_route_tables: list[aws.ec2.RouteTable],
        tags: Callable[[str], dict[str, str]],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region

        def service_name(service: str) -> pulumi.Output[str]:
            return pulumi.Output.concat("com.amazonaws.", region, f".{service}")

        # A gateway endpoint adds a route to S3's prefix list in the private route tables: weights
        # and ECR image layers (stored in S3) skip the NAT gateways, at no charge.
        aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=vpc.id,
            service_name=service_name(GATEWAY_ENDPOINT_SERVICE),
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_route_tables],
            tags=tags("s3-endpoint"),
            opts=child,
        )
        # Interface endpoints are network interfaces: they only need to accept HTTPS from the VPC;
        # no egress rule is needed (or created) since replies to accepted connections are allowed.
        security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=vpc.id,
            description="HTTPS from the VPC to its AWS service endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC",
                    protocol="tcp",
                    from_port=HTTPS_PORT,
                    to_port=HTTPS_PORT,
                    cidr_blocks=[cidr_block],
                )
            ],
            tags=tags("endpoints-sg"),
            opts=child,
        )
        for service in INTERFACE_ENDPOINT_SERVICES:
            resource = f"{service.replace('.', '-')}-endpoint"
            aws.ec2.VpcEndpoint(
                f"{name}-{resource}",
                vpc_id=vpc.id,
                service_name=service_name(service),
                vpc_endpoint_type="Interface",
                subnet_ids=[s.id for s in private_subnets],
                security_group_ids=[security_group.id],
                # The service's public name then resolves to the endpoint inside the VPC, so clients
                # (kubelet, the AWS SDKs) use it with no configuration.
                private_dns_enabled=True,
                tags=tags(resource),
                opts=child,
            )
