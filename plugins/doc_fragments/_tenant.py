# Copyright (c) selfhosted_ai.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY: the interface may change in any release.


class ModuleDocFragment:
    # Backend selection and connection options of selfhosted_ai.stack.tenant and tenant_info.
    # Matches the argument_spec of each backend class listed in plugins/module_utils/_tenant_registry.py.
    DOCUMENTATION = r"""
options:
  backends:
    description:
      - The backends to work on. When not given, every backend whose connection options are given.
      - Each selected backend needs its connection options.
    type: list
    elements: str
    choices: [postgres, valkey, s3, vault, qdrant, neo4j]
  postgres:
    description: How to reach PostgreSQL (psycopg 3). The login user needs SUPERUSER, or CREATEROLE and CREATEDB.
    type: dict
    suboptions:
      host:
        description: Host name or address.
        type: str
        default: 127.0.0.1
      port:
        description: Port.
        type: int
        default: 5432
      login_user:
        description: Role to log in as.
        type: str
        default: postgres
      login_password:
        description: Password of O(postgres.login_user).
        type: str
      database:
        description: Database the one administrative connection opens.
        type: str
        default: postgres
      sslmode:
        description: libpq sslmode.
        type: str
        default: prefer
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      ca_cert:
        description: CA certificate file for O(postgres.sslmode=verify-ca) and O(postgres.sslmode=verify-full).
        type: path
      connect_timeout:
        description: Seconds to wait for a connection.
        type: int
        default: 10
      extensions:
        description:
          - Extensions to create in every tenant database, for example V(vector) (pgvector).
          - Checking them opens one short connection per tenant database (extensions live per database).
        type: list
        elements: str
        default: []
  valkey:
    description: How to reach Valkey or Redis 7+ (redis-py). The login user needs the C(@admin) commands.
    type: dict
    suboptions:
      host:
        description: Host name or address.
        type: str
        default: 127.0.0.1
      port:
        description: Port.
        type: int
        default: 6379
      username:
        description: ACL user to log in as (the C(default) user when not given).
        type: str
      password:
        description: Password of the login user.
        type: str
      tls:
        description: Use TLS.
        type: bool
        default: false
      ca_cert:
        description: CA certificate file for TLS.
        type: path
      connect_timeout:
        description: Seconds to wait for a connection.
        type: int
        default: 10
      command_rules:
        description:
          - ACL command rules of every tenant user, one token per item. The module compares a user's rules with the
            form the server prints these in (it may rewrite them), so a rerun finds an unchanged user unchanged; a rule
            the server does not know fails before any change.
          - The default allows everything but the C(@dangerous) category, which includes every C(@admin) command, the
            commands that list or count the keys and channels of every user (key patterns cannot filter their
            answers), C(FUNCTION) (libraries are shared by every user) and C(SCRIPT FLUSH), C(SCRIPT KILL) and
            C(SCRIPT DEBUG) (the script cache and the running script are every user's).
        type: list
        elements: str
        default: ['+@all', '-@dangerous', '-scan', '-randomkey', '-dbsize', '-pubsub|channels', '-pubsub|numsub',
                  '-pubsub|numpat', '-pubsub|shardchannels', '-pubsub|shardnumsub', '-memory|stats', '-memory|doctor',
                  '-memory|malloc-stats', '-function', '-script|flush', '-script|kill', '-script|debug']
      layout:
        description:
          - V(acl_prefix) isolates tenants by ACL key and channel patterns C(<id>:*).
          - V(db_number) also hands each tenant the database number of O(valkey.db_numbers); a database number is
            B(not) a security boundary (ACLs cannot restrict SELECT), the key prefix ACL stays the isolation.
        type: str
        default: acl_prefix
        choices: [acl_prefix, db_number]
      db_numbers:
        description: Tenant id to database number, for O(valkey.layout=db_number).
        type: dict
        default: {}
      persist:
        description:
          - How ACL changes survive a restart. V(auto) runs C(ACL SAVE) when the server has an aclfile,
            C(CONFIG REWRITE) otherwise; a failure is a warning, the change stays live.
          - V(file) writes the tenant users' lines, as the server prints them (C(ACL LIST)), into the aclfile
            O(valkey.aclfile) on the host the module runs on, replacing only the lines of the tenants of the call;
            for a server whose aclfile it cannot write itself (the valkey role mounts it read-only). A line that
            differs from the live user is reported and rewritten; a failed write fails the run.
        type: str
        default: auto
        choices: [auto, acl_save, config_rewrite, file, none]
      aclfile:
        description: The server's ACL file on the host the module runs on, for O(valkey.persist=file).
        type: path
  s3:
    description:
      - How to reach the S3 server (boto3) and its identity admin API.
      - SeaweedFS serves the AWS IAM API on its S3 port; writes need C(-s3.iam.readOnly=false) (or C(-iam.readOnly=false)).
    type: dict
    suboptions:
      endpoint_url:
        description: S3 endpoint URL.
        type: str
        required: true
      access_key:
        description: Access key of an admin identity.
        type: str
        required: true
      secret_key:
        description: Secret key of the admin identity.
        type: str
        required: true
      region:
        description: Region name for request signing.
        type: str
        default: us-east-1
      validate_certs:
        description: Verify TLS certificates.
        type: bool
        default: true
      admin_api:
        description:
          - How tenant identities are read and written.
          - V(iam) is the AWS IAM API (SeaweedFS with C(-s3.iam.readOnly=false), Ceph RGW); the server makes each
            key, which goes to Vault right after.
          - V(seaweedfs_shell) reads and writes through SeaweedFS's admin shell (O(s3.seaweedfs_shell), required), writing
            every tenant's bucket, identity, key and actions (C(List), C(Read), C(Tagging), C(Write) on its bucket)
            in B(one) batch. The module makes the keys and stores them in Vault before the batch runs; it reads the
            batch back, fails naming any tenant it did not finish, and waits until the gateway accepts the new keys.
            SeaweedFS's IAM writes slow down with every identity it holds; the batch does not (see docs/tenants.md).
        type: str
        default: iam
        choices: [iam, seaweedfs_shell]
      iam_endpoint_url:
        description: IAM endpoint when it differs from O(s3.endpoint_url) (SeaweedFS C(weed iam), port 8111).
        type: str
      policy_name:
        description: Name of the inline user policy that allows the tenant bucket.
        type: str
        default: tenant-bucket
      connect_timeout:
        description: Seconds to wait for a connection.
        type: int
        default: 10
      seaweedfs_shell:
        description:
          - Command (argv) that opens SeaweedFS's admin shell reading commands from standard input, for example
            V([docker, exec, -i, seaweedfs, weed, shell, -master=127.0.0.1:9333]) on the host of the container.
          - When given, every identity (keys, effective actions) and every inline policy is read in B(one) call
            (C(s3.configure) and C(fs.cat /etc/iam/policies.json)) instead of two IAM API calls per identity; writes
            go through the IAM API unless O(s3.admin_api=seaweedfs_shell).
          - It also sees an identity whose effective actions reach beyond its bucket (widened with C(s3.configure)
            behind the IAM API's back, which the IAM API does not show); the module then puts the policy again, which
            resets them.
          - The shell prints every identity's secret key; the module keeps none of it and never returns it.
        type: list
        elements: str
      seaweedfs_shell_timeout:
        description: Seconds the admin shell may take.
        type: int
        default: 120
  vault:
    description:
      - How to reach HashiCorp Vault or OpenBao (hvac), and where tenant secrets live.
      - Required when PostgreSQL, Valkey, S3 or Neo4j Enterprise are managed for present tenants; every generated credential is kept there.
    type: dict
    suboptions:
      url:
        description: Server URL; E(BAO_ADDR) or E(VAULT_ADDR) when not given.
        type: str
      auth_method:
        description: V(token), V(approle), or V(auto) (AppRole when O(vault.role_id) or O(vault.secret_id) is set).
        type: str
        choices: [auto, token, approle]
        default: auto
      token:
        description: Token; E(BAO_TOKEN) or E(VAULT_TOKEN) when not given.
        type: str
      role_id:
        description: AppRole role ID of the module's own login.
        type: str
      secret_id:
        description: AppRole secret ID of the module's own login.
        type: str
      approle_mount_point:
        description: Mount of the AppRole auth method the module logs in through.
        type: str
        default: approle
      namespace:
        description: Vault Enterprise / OpenBao namespace.
        type: str
      ca_cert:
        description: CA certificate file.
        type: path
      validate_certs:
        description: Verify TLS certificates (default yes unless E(VAULT_SKIP_VERIFY) is true).
        type: bool
      client_cert:
        description: Client certificate for mutual TLS.
        type: path
      client_key:
        description: Key of O(vault.client_cert).
        type: path
      timeout:
        description: Seconds to wait for each answer.
        type: int
        default: 30
      mount:
        description: Mount of the KV version 2 engine holding tenant secrets.
        type: str
        default: secret
      path_prefix:
        description: Tenant secrets live under C(<path_prefix>/<id>/) of O(vault.mount).
        type: str
        default: tenants
      approle:
        description:
          - Create an AppRole role C(tenant-<id>) per tenant, bound to O(vault.tenant_policy) alone, and its entity alias
            (named after the role's role_id) with custom_metadata C(tenant=<id>), without naming an entity (Vault makes
            a fresh one, without policies).
          - With V(false) the module only stores credentials; giving tenants access to Vault is then yours.
        type: bool
        default: true
      approle_auth_mount:
        description:
          - Mount of the AppRole auth method holding the tenant roles. It must exist (the openbao role enables it),
            since O(vault.tenant_policy) names its accessor.
        type: str
        default: approle
      token_ttl:
        description: TTL of tokens issued to tenant AppRoles (seconds, or with s, m, h, d).
        type: str
        default: 1h
      token_max_ttl:
        description: Maximum TTL of tokens issued to tenant AppRoles.
        type: str
        default: 4h
      tenant_policy:
        description:
          - The one ACL policy of every tenant, templated on the custom_metadata C(tenant) of the token entity's alias
            on the AppRole mount, which the openbao role writes (C(openbao_tenant_policy_name)); the module never
            writes a policy. It must grant C(<mount>/data/<path_prefix>/<template>/*) where C(<template>) is
            C(identity.entity.aliases.<accessor>.custom_metadata.tenant) in double braces (C(<accessor>) the AppRole
            mount's), or the module stops before any change (docs/tenants.md).
          - Must not start with C(tenant-).
        type: str
        default: selfhosted-ai-tenant
  qdrant:
    description: How to reach Qdrant's REST API.
    type: dict
    suboptions:
      url:
        description: Base URL.
        type: str
        default: http://127.0.0.1:6333
      api_key:
        description: The admin API key (also the JWT signing key when O(qdrant.jwt_rbac=true)).
        type: str
      validate_certs:
        description: Verify TLS certificates.
        type: bool
        default: true
      timeout:
        description: Seconds to wait for each answer.
        type: int
        default: 30
      vector_size:
        description: Vector size of tenant collections, unless the tenant's quota C(qdrant_vector_size) says otherwise.
        type: int
        default: 768
      distance:
        description: Distance of tenant collections, unless the tenant's quota C(qdrant_distance) says otherwise.
        type: str
        default: Cosine
        choices: [Cosine, Euclid, Dot, Manhattan]
      jwt_rbac:
        description: The server runs with C(service.jwt_rbac=true); store a token scoped to the tenant collection in Vault.
        type: bool
        default: false
      jwt_ttl_days:
        description: Lifetime of tenant tokens in days (C(exp) claim); V(0) means no expiry. Tokens are re-issued when a third of it is left.
        type: int
        default: 0
  neo4j:
    description: How to reach Neo4j's HTTP API.
    type: dict
    suboptions:
      url:
        description: Base URL of the HTTP API.
        type: str
        default: http://127.0.0.1:7474
      user:
        description: User to log in as.
        type: str
        default: neo4j
      password:
        description: Password of O(neo4j.user).
        type: str
        required: true
      database:
        description: Database holding the tenant anchor nodes (Community).
        type: str
        default: neo4j
      edition:
        description: V(community) (anchor nodes), V(enterprise) (a database, role and user per tenant), or V(auto) (ask the server).
        type: str
        default: auto
        choices: [auto, community, enterprise]
      validate_certs:
        description: Verify TLS certificates.
        type: bool
        default: true
      timeout:
        description: Seconds to wait for each answer.
        type: int
        default: 30
requirements:
  - psycopg >= 3.1 (PostgreSQL backend)
  - redis >= 4.5 (Valkey backend)
  - boto3 (S3 backend)
  - hvac (Vault backend)
"""
