// Package storetest is the conformance suite of models.Store: every backend
// (SQLite always, PostgreSQL when configured) runs the same tests, in the
// manner of dex's storage/conformance.
//
// The tests live in one file per entity (users.go, clients.go, tokens.go,
// ...), with the helpers they share in helpers.go; Tests below lists every
// one of them, and a test missing from it does not run.
package storetest

import (
	"testing"

	"github.com/gatehouse/gatehouse/models"
)

// Test is one conformance test, run on a fresh, empty (migrated) store.
type Test struct {
	Name string
	Fn   func(t *testing.T, s *models.Store)
}

// Tests lists every conformance test, grouped by the file that holds it, in
// the order Run starts them.
var Tests = []Test{
	// store.go: the store itself.
	{"Store/DialectAndPing", testDialectAndPing},
	{"Store/Tx", testTx},
	{"Store/TimesUTCMicroseconds", testTimes},
	{"Store/ErrorsHideSQL", testErrorsHideSQL},
	{"Store/TranslateError", testTranslateError},

	// users.go, with the last-admin rule of the admin dashboard
	// (models/store_admin.go).
	{"User/CreateGet", testUserCreateGet},
	{"User/NotFound", testUserNotFound},
	{"User/Duplicates", testUserDuplicates},
	{"User/Update", testUserUpdate},
	{"User/ConcurrentUpdate", testUserConcurrentUpdate},
	{"User/List", testUserList},
	{"User/Admins", testUserAdmins},
	{"User/DeleteCascades", testUserDeleteCascades},
	{"Admin/KeepLastAdmin", testKeepLastAdmin},
	{"Admin/KeepLastAdminConcurrent", testKeepLastAdminConcurrent},

	// images.go
	{"Image/PutGet", testImage},

	// clients.go, with the methods the dashboard's client pages and the
	// authorized-apps page added.
	{"Client/CreateGet", testClientCreateGet},
	{"Client/Update", testClientUpdate},
	{"Client/ListCount", testClientList},
	{"Client/DeleteCascades", testClientDeleteCascades},
	{"Client/OwnerNames", testClientOwnerNames},
	{"Client/Usage", testClientUsage},
	{"Admin/GetClientsByID", testGetClientsByID},

	// scopes.go
	{"Scope/CRUD", testScopeCRUD},
	{"Scope/Usage", testScopeUsage},
	{"Admin/DeleteScopeDetached", testDeleteScopeDetached},
	{"Admin/ScopeClientUsage", testScopeClientUsage},

	// resources.go (RFC 8707) and the scopes that belong to them.
	{"Resource/CRUD", testResourceCRUD},
	{"Resource/Scopes", testResourceScopes},
	{"Resource/DeleteRace", testResourceDeleteRace},

	// trust.go: trusted issuers of the JWT bearer grant.
	{"TrustedIssuer/CRUD", testTrustedIssuerCRUD},

	// settings.go
	{"Settings", testSettings},

	// codes.go: authorization codes.
	{"AuthorizationCode/CreateGetRedeem", testCodeRedeem},
	{"AuthorizationCode/ConcurrentRedeem", testCodeConcurrentRedeem},

	// tokens.go, with the revocation of a user's grants (password change,
	// authorized-apps page).
	{"Token/CreateGet", testTokenCreateGet},
	{"Token/Rotate", testTokenRotate},
	{"Token/ConcurrentRotate", testTokenConcurrentRotate},
	{"Token/Revoke", testTokenRevoke},
	{"Token/DeleteExpired", testDeleteExpired},
	{"Token/RevokeUserFamilies", testRevokeUserFamilies},
	{"Admin/RevokeApp", testRevokeApp},

	// consents.go
	{"Consent", testConsent},

	// devicecodes.go, with the state changes of the device flow
	// (models/store_device.go): each is one conditional write, and of
	// concurrent attempts exactly one may win.
	{"DeviceCode", testDeviceCode},
	{"DeviceCode/Decide", testDeviceDecide},
	{"DeviceCode/Poll", testDevicePoll},
	{"DeviceCode/Redeem", testDeviceRedeem},
	{"DeviceCode/ConcurrentRedeem", testDeviceConcurrentRedeem},
	{"DeviceCode/ConcurrentPoll", testDeviceConcurrentPoll},
	{"DeviceCode/ConcurrentDecide", testDeviceConcurrentDecide},

	// signingkeys.go
	{"SigningKey", testSigningKey},
	{"SigningKey/DeleteExpired", testSigningKeyDeleteExpired},
	{"SigningKey/Lock", testSigningKeyLock},

	// audit.go: the audit log, the filters of the audit page, the batched
	// export, the bounds of the fields and the counted events
	// (models/store_audit.go).
	{"Audit", testAudit},
	{"Audit/Filters", testAuditFilters},
	{"Audit/Each", testAuditEach},
	{"Audit/Bounds", testAuditBounds},
	{"Audit/Counted", testAuditCounted},
	{"Audit/RetentionSweep", testAuditRetentionSweep},

	// secrets.go: app secrets.
	{"AppSecret/GetOrCreate", testSecret},
	{"AppSecret/Concurrent", testSecretConcurrent},
	{"AppSecret/Encrypted", testSecretEncrypted},
	{"AppSecret/Replace", testSecretReplace},

	// sessions.go: web sessions.
	{"WebSession", testWebSession},
	{"WebSession/ListUser", testListUserWebSessions},

	// logout.go: the back-channel logout queue (models/store_logout.go)
	// and what ending sessions queues into it.
	{"LogoutDelivery/Claim", testLogoutClaim},
	{"LogoutDelivery/Complete", testLogoutComplete},
	{"LogoutDelivery/ConcurrentClaim", testLogoutConcurrentClaim},
	{"WebSession/EndQueuesLogout", testEndSessionQueuesLogout},
	{"WebSession/EndConcurrent", testEndSessionConcurrent},

	// throttle.go
	{"Throttle", testThrottle},

	// onetime.go: one-time tokens.
	{"OneTimeToken", testOneTimeToken},
	{"OneTimeToken/ConcurrentUse", testOneTimeTokenConcurrent},
}

// Run runs every conformance test as a parallel subtest, each on its own
// store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) *models.Store) {
	for _, tc := range Tests {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			tc.Fn(t, newStore(t))
		})
	}
}
