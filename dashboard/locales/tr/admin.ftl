# Personel yönetimi sayfaları (roller, ekipler, denetim kaydı, API token'ları) — Türkçe.
# Anahtar kümesi en/admin.ftl ile aynı olmalı (bir test denetler).

## Bir rolün modülleri, işlemleri ve kapsamları
module-pipeline = Satış hattı
module-customers = Müşteriler
module-inbox = Gelen kutusu
module-broadcasts = Toplu mesajlar
module-agenda = Ajanda
module-reports = Raporlar
module-work-orders = İş emirleri
module-inventory = Stok
module-drive = Dosyalar
module-users = Kullanıcılar
module-settings = Ayarlar
action-view = Görüntüle
action-create = Oluştur
action-edit = Düzenle
action-delete = Sil
action-export = Dışa aktar
action-bulk = Toplu işlem
action-manage = Yönet
scope-own = Kendi
scope-team = Ekip
scope-all = Tümü

## Roller
roles-title = Roller
roles-lead = Her rolün hangi modülde neler yapabileceği ve hangi müşterileri göreceği. Bir rol kaydedildiğinde sahiplerinin oturumu kapanır; değişiklik hemen geçerli olur.
roles-empty-title = Henüz rol yok
roles-empty-hint = İlk rolü aşağıdan oluşturun; yerleşik roller sunucu yeniden başlayınca geri gelir.
roles-builtin = Yerleşik
roles-locked = Salt okunur
roles-users = { $count ->
    [0] kullanıcı yok
   *[other] { $n } kullanıcı
}
roles-modules = { $count ->
    [0] modül yok
   *[other] { $n } modül
}
roles-admin-note = Yönetici rolü tüm müşteriler üzerinde her izne her zaman sahiptir; böylece yöneticiler sistemin dışında kilitlenemez. Bu rol düzenlenemez.
roles-name = Rol adı
roles-matrix = İzinler
roles-col-module = Modül
roles-col-scope = Müşteriler
roles-scope-na = Bu modülde müşteri verisi yok: her zaman tümünü kapsar.
roles-pool = Atanmamış müşterileri görür
roles-pool-hint = Henüz kimsenin üstlenmediği yeni başvurular bu rolün listelerinde görünür, böylece biri üstlenebilir.
roles-save = Rolü kaydet
roles-save-hint = Bu role sahip kullanıcıların oturumu kapanır.
roles-new = Yeni rol
roles-new-hint = En fazla 80 karakter, ör. “Saha satış”.
roles-copy-from = İzinleri şu rolden kopyala
roles-copy-none = Hiçbiri (boş başla)
roles-create = Rol oluştur
toast-role-saved = Rol kaydedildi; sahipleri yeniden oturum açacak.
toast-role-created = Rol oluşturuldu. İzinlerini aşağıdan belirleyin.
err-role-name = Rol adı 1 ile 80 karakter arasında olmalı.
err-role-exists = Bu adla başka bir rol var.
err-role-form-unknown = Form, bu sayfanın tanımadığı bir alan gönderdi (“{ $field }”). Sayfayı yenileyip yeniden deneyin.
err-role-form-value = Form, “{ $field }” için bu sayfanın kabul etmediği bir değer gönderdi. Sayfayı yenileyip yeniden deneyin.
err-role-form-repeated = Form “{ $field }” alanını iki kez gönderdi. Sayfayı yenileyip yeniden deneyin.
err-role-form-scope = İzni olan bir modülün müşteri kapsamı gerekir (“{ $field }”). Sayfayı yenileyip yeniden deneyin.

## Ekipler
teams-title = Ekipler
teams-lead = Departmanlar ve başlarındaki kişiler. “Ekip” kapsamlı bir rol, kullanıcının ekiplerindeki herkesin müşterilerini görür.
teams-empty-title = Henüz ekip yok
teams-empty-hint = Bir ekip oluşturun; “Ekip” kapsamıyla çalışma arkadaşları birbirinin müşterilerini görebilir.
teams-lead-label = Ekip lideri
teams-no-lead = Lider yok
teams-members-count = { $count ->
    [0] Üyeler
   *[other] { $n } üye
}
teams-no-members = Henüz kimse yok
teams-edit = Ekibi düzenle
teams-name = Ekip adı
teams-members = Üyeler
teams-members-hint = Birden fazla kişi seçmek için Ctrl (Mac'te ⌘) tuşuna basılı tutun. Lider her zaman üyedir.
teams-new = Yeni ekip
teams-create = Ekip oluştur
toast-team-saved = Ekip kaydedildi.
toast-team-created = Ekip oluşturuldu.
err-team-name = Ekip adı 1 ile 80 karakter arasında olmalı.
err-team-exists = Bu adla başka bir ekip var.
err-team-members = Lideri ve üyeleri listelerden seçin.

## Denetim kaydı
audit-title = Denetim kaydı
audit-lead = Güvenlik olayları: oturum açmalar, parola değişiklikleri, kullanıcılar, roller, ekipler ve token'lar. En yenisi en üstte.
audit-filters = Kaydı süz
audit-filter-action = Olay
audit-filter-any = Tüm olaylar
audit-filter-who = Kim ya da ne
audit-filter-who-hint = user:01J… ya da role:sales gibi bir başvuru; doldurmak için tablodaki bir ada tıklayın.
audit-filter-apply = Süz
audit-filter-clear = Süzgeci temizle
audit-empty-title = Kayıtta henüz bir şey yok
audit-empty-hint = Oturum açmalar ve kullanıcı, rol, ekip, token değişiklikleri burada listelenecek.
audit-empty-filtered-title = Bu süzgeçlere uyan kayıt yok
audit-empty-filtered-hint = Başka bir olay seçin ya da süzgeci temizleyin.
audit-col-time = Zaman
audit-col-action = Olay
audit-col-actor = Yapan
audit-col-target = İlgili
audit-col-ip = IP adresi
audit-zone = Saatler { $zone } saat diliminde gösterilir.
audit-newest = En yeni kayıtlar
audit-older = Daha eski kayıtlar
err-audit-action = Listeden bir olay seçin.
audit-subject-role = Rol: { $name }
audit-subject-team = Ekip: { $name }
audit-subject-token = Token: { $name }
audit-subject-anonymous = Bilinmeyen ziyaretçi
audit-subject-system = Sistem
audit-setup-completed = Kurulum tamamlandı
audit-sign-in = Oturum açıldı
audit-sign-in-failed = Oturum açılamadı
audit-sign-in-throttled = Oturum açma geçici olarak durduruldu
audit-sign-out = Oturum kapatıldı
audit-sign-out-everywhere = Tüm oturumlar kapatıldı
audit-password-changed = Parola değiştirildi
audit-password-reset = Parola sıfırlandı
audit-password-reset-issued = Sıfırlama bağlantısı verildi
audit-password-temporary-set = Geçici parola belirlendi
audit-user-created = Kullanıcı oluşturuldu
audit-user-updated = Kullanıcı güncellendi
audit-user-disabled = Kullanıcı devre dışı bırakıldı
audit-user-enabled = Kullanıcı etkinleştirildi
audit-user-offboarded = Kullanıcının işleri devredildi
audit-role-created = Rol oluşturuldu
audit-role-updated = Rol güncellendi
audit-team-created = Ekip oluşturuldu
audit-team-updated = Ekip güncellendi
audit-token-created = Token oluşturuldu
audit-token-revoked = Token iptal edildi
audit-customers-exported = Müşteriler dışa aktarıldı

## API token'ları
tokens-title = API token'ları
tokens-lead = Token'lar, betiklerin ve başka sistemlerin CRM'i sizin adınıza kullanmasını sağlar. Her birine bir ad ve işini gören en dar kapsamı verin.
tokens-created-title = “{ $name }” token'ı oluşturuldu
tokens-created-note = Şimdi kopyalayıp güvenli bir yerde saklayın: bir daha gösterilmeyecek. Kaybederseniz iptal edip yenisini oluşturun.
tokens-secret-label = Yeni token
tokens-copy = Kopyala
tokens-copied = Kopyalandı
tokens-created-scope = Kapsam
tokens-empty-title = Henüz token yok
tokens-empty-hint = Bir betik, web formu ya da izleme aracı CRM'e erişecekse aşağıdan oluşturun.
tokens-live-count = { $count ->
    [0] Etkin token yok
   *[other] { $n } etkin token
}
tokens-col-name = Ad
tokens-col-scope = Kapsam
tokens-col-created = Oluşturulma
tokens-live = Etkin
tokens-revoked = İptal edildi
tokens-revoke = İptal et
tokens-revoke-named = “{ $name }” token'ını iptal et
tokens-new = Yeni token
tokens-name-hint = Nerede kullanıldığını yazın, ör. “Web sitesi iletişim formu”.
tokens-create = Token oluştur
token-scope-full = Tam erişim
token-scope-full-hint = Rolünüzün izin verdiği her şey, sizin adınıza.
token-scope-intake = Başvuru alma
token-scope-intake-hint = Yalnızca yeni başvuru gönderir (web formları ve iş ortakları için).
token-scope-metrics = Ölçümler
token-scope-metrics-hint = Yalnızca izleme ölçümlerini okur.
toast-token-revoked = Token iptal edildi; hemen çalışmaz olur.
err-token-name = Token adı 1 ile 80 karakter arasında olmalı.
err-token-scope = Kapsamlardan birini seçin.
